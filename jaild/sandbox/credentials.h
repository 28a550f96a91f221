// Leaving root: the child switches to its run's unprivileged uid/gid with no supplementary groups.
#pragma once

#include <cstdint>

namespace jaild::credentials {

// Child: setgroups(0) + setresgid + setresuid through raw syscalls (glibc's wrappers broadcast to every
// thread it believes exists, and a cloned child of a multi-threaded jaild has only one). Returns errno.
int apply(std::uint32_t uid, std::uint32_t gid) noexcept;

}  // namespace jaild::credentials
