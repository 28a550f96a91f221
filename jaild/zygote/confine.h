// The zygote's own confinement (docs/security.md, "Warm Python"): what it may do between runs. It is
// privileged, since its children must enter a sandbox and take a run's uid, so it keeps only what those
// steps need and sees the host through a read-only, network-less view.
#pragma once

#include <string>
#include <system_error>

namespace jaild::zygote {

// Before anything else: a mount namespace of its own in which every mount is private and read-only, and
// empty network, IPC and UTS namespaces. Returns the error and names the step in `what`.
std::error_code isolate_view(std::string& what);

// Keeps only the capabilities a child's steps need (setns, the run's uid and gid, the bounding set and
// securebits, raising a run's rlimits), in the bounding set as well as the permitted and effective sets.
std::error_code keep_needed_capabilities(std::string& what);

// The capabilities keep_needed_capabilities() leaves, by name (for the log and the tests).
const char* needed_capabilities_text();

// The filter of the zygote's own loop: the sandbox's policy (seccomp_policy.h) minus the one call its
// children need before they install the run's own filter on top (setns). Loaded last, after the preload.
std::error_code load_loop_filter(std::string& what);

}  // namespace jaild::zygote
