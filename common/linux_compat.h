// Kernel interfaces that glibc 2.36 does not wrap, in one place. Every function is a raw syscall and so is
// async-signal-safe: usable in the child between clone() and execve().
#pragma once

#include <linux/sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#include <cerrno>

namespace jaild::sys {

inline long clone3(clone_args* args) noexcept { return ::syscall(SYS_clone3, args, sizeof(clone_args)); }

// Whether this host has clone3: with no arguments it fails EINVAL where it exists, ENOSYS where it does not
// (gVisor, and Docker's default seccomp profile, which refuses it so that the C library falls back to clone).
inline bool has_clone3() noexcept {
    static const bool has = ::syscall(SYS_clone3, nullptr, 0) == 0 || errno != ENOSYS;
    return has;
}

// A fork-like clone3, or clone(2) with the same flags where clone3 is missing. clone(2) cannot place the child
// in a cgroup: a caller that sets CLONE_INTO_CGROUP checks has_clone3() first. clone(2) takes the pidfd
// pointer of CLONE_PIDFD as its third argument (parent_tid) on every architecture.
inline long clone3_or_clone(clone_args* args) noexcept {
    const long pid = clone3(args);
    if (pid >= 0 || errno != ENOSYS) return pid;
    return ::syscall(SYS_clone, static_cast<unsigned long>(args->flags | args->exit_signal), nullptr,
                     reinterpret_cast<void*>(args->pidfd), nullptr, 0);
}

// fork() without glibc's atfork handlers, which take locks another thread may hold: safe after clone().
inline pid_t raw_fork() noexcept { return static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }

inline int pidfd_send_signal(int pidfd, int sig) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

inline int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// gVisor refuses an open-ended range (last = ~0U) with EINVAL: the range then ends at the largest descriptor
// this process may have (its RLIMIT_NOFILE hard limit). Async-signal-safe (system calls only).
inline int close_range(unsigned first, unsigned last, unsigned flags) noexcept {
    const int rc = static_cast<int>(::syscall(SYS_close_range, first, last, flags));
    if (rc == 0 || errno != EINVAL || last != ~0U) return rc;
    rlimit files{};
    if (::syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &files) != 0) return -1;
    const unsigned highest = files.rlim_max == RLIM_INFINITY || files.rlim_max > 0x7fffffffU
                                 ? 0x7fffffffU
                                 : static_cast<unsigned>(files.rlim_max);
    if (highest <= first) return 0;
    return static_cast<int>(::syscall(SYS_close_range, first, highest - 1, flags));
}

inline int pivot_root(const char* new_root, const char* put_old) noexcept {
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

}  // namespace jaild::sys
