#include "jaild/sandbox/uid_kill.h"

#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/linux_compat.h"

namespace jaild {

namespace {

// The helper, a fork-like child of a multi-threaded jaild with every signal blocked: raw system calls only
// (glibc's set*id wrappers would signal threads it does not have). Takes its ids, gives up every capability and
// jaild's descriptors, and checks before killing: a helper still able to signal root's processes must never
// reach kill(-1).
[[noreturn]] void kill_as(std::uint32_t uid, std::uint32_t own_uid) noexcept {
    const long id = uid, own = own_uid;
    if (sys::close_range(3, ~0U, 0) != 0) ::_exit(1);
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, own, id, own) != 0 ||
        ::syscall(SYS_setresuid, own, id, own) != 0)
        ::_exit(1);
    if (::syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(1);
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capset, &header, none) != 0) ::_exit(1);
    __user_cap_data_struct now[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, now) != 0) ::_exit(1);
    for (const auto& set : now) {
        if (set.effective != 0 || set.permitted != 0) ::_exit(1);
    }
    uid_t real = 0, effective = 0, saved = 0;
    if (::syscall(SYS_getresuid, &real, &effective, &saved) != 0 || real != own_uid || effective != uid ||
        saved != own_uid)
        ::_exit(1);
    // Until nothing is left to signal (ESRCH), at most 20 passes: on Linux a process the first pass missed can
    // only be one that was being created as it ran, and a zombie still counts as there until it is reaped.
    for (int pass = 0; pass < 20; ++pass) {
        if (::syscall(SYS_kill, -1, SIGKILL) != 0) ::_exit(errno == ESRCH ? 0 : 2);
        if (pass >= 1) ::syscall(SYS_sched_yield);
    }
    ::_exit(0);
}

}  // namespace

std::error_code kill_uid(std::uint32_t uid, std::uint32_t own_uid) {
    if (uid == 0 || own_uid == 0) return std::make_error_code(std::errc::invalid_argument);
    sigset_t all, saved;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved);
    // clone without CLONE_VM: fork's copy, without the C library's fork handlers.
    const long pid = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid == 0) kill_as(uid, own_uid);
    const int clone_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    if (pid < 0) return {clone_errno, std::system_category()};
    int status = 0;
    while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0) {
        if (errno != EINTR) return {errno, std::system_category()};
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    return std::make_error_code(std::errc::operation_not_permitted);
}

}  // namespace jaild
