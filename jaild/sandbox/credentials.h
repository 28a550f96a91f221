// Leaving root: the child switches to its run's unprivileged uids/gids with no supplementary groups.
#pragma once

#include <cstdint>

namespace jaild::credentials {

// Child: setgroups(0) + setresgid + setresuid through raw syscalls (glibc's wrappers broadcast to every
// thread it believes exists, and a cloned child of a multi-threaded jaild has only one). The real and saved
// ids become the reaper's, the effective ones the program's: the sandbox's PID 1 runs as a uid of its own and
// keeps the program's as its effective one only, which its program's process takes whole before its execve
// (reaper_loop.h). With the reaper's ids equal to the program's: (P, P, P). Returns errno.
int apply(std::uint32_t uid, std::uint32_t gid, std::uint32_t reaper_uid, std::uint32_t reaper_gid) noexcept;

}  // namespace jaild::credentials
