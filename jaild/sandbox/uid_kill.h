// Chroot mode's way to end a run (sandbox.isolation = "chroot"): no PID namespace dies with the run's PID 1, so
// every process of the run's uid (each running sandbox has a uid of its own, uid_pool.h) is killed instead.
#pragma once

#include <cstdint>
#include <system_error>

namespace jaild {

// SIGKILL to every process whose real or saved uid is `uid` or `own_uid` (the run's and its PID 1's:
// reaper_uid_of), as kill(-1, SIGKILL) sends it from a short-lived process with real and saved uid `own_uid`,
// effective uid `uid` and no capability: it reaches exactly those processes, however they were started, and
// none that a fork could add meanwhile (the kernel fails a fork whose parent has a fatal signal pending). The
// run's processes, which hold only `uid`, can neither signal nor trace that process (it is not dumpable, and
// has none of jaild's descriptors or signal handlers). Blocks for its life, well under a millisecond. Errors:
// the clone's, or EPERM when it could not take those ids (it then killed nothing).
std::error_code kill_uid(std::uint32_t uid, std::uint32_t own_uid);

}  // namespace jaild
