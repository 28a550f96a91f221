#include "jaild/sandbox/uid_kill.h"

#include <linux/capability.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>

namespace jaild {

namespace {

// The helper, a fork-like child of a multi-threaded jaild: raw system calls only (glibc's set*id wrappers
// would signal threads it does not have). Takes `uid` whole, gives up every capability, and checks both
// before killing: a helper still able to signal root's processes must never reach kill(-1).
[[noreturn]] void kill_as(std::uint32_t uid) noexcept {
    const long id = uid;
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, id, id, id) != 0 ||
        ::syscall(SYS_setresuid, id, id, id) != 0)
        ::_exit(1);
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capset, &header, none) != 0) ::_exit(1);
    __user_cap_data_struct now[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, now) != 0) ::_exit(1);
    for (const auto& set : now) {
        if (set.effective != 0 || set.permitted != 0) ::_exit(1);
    }
    uid_t real = 0, effective = 0, saved = 0;
    if (::syscall(SYS_getresuid, &real, &effective, &saved) != 0 || real != uid || effective != uid || saved != uid)
        ::_exit(1);
    // Twice: a process the first pass missed can only be one that was being created as it ran.
    for (int pass = 0; pass < 2; ++pass) {
        if (::syscall(SYS_kill, -1, SIGKILL) != 0 && errno != ESRCH) ::_exit(2);
    }
    ::_exit(0);
}

}  // namespace

std::error_code kill_uid(std::uint32_t uid) {
    if (uid == 0) return std::make_error_code(std::errc::invalid_argument);
    // clone without CLONE_VM: fork's copy, without the C library's fork handlers.
    const long pid = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid < 0) return {errno, std::system_category()};
    if (pid == 0) kill_as(uid);
    int status = 0;
    while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0) {
        if (errno != EINTR) return {errno, std::system_category()};
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    return std::make_error_code(std::errc::operation_not_permitted);
}

std::vector<std::uint32_t> uids_with_processes(std::string_view proc, std::uint32_t first, std::uint32_t count) {
    std::vector<std::uint32_t> uids;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(proc), ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        std::ifstream status(entry.path() / "status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("Uid:", 0) != 0) continue;
            const std::size_t at = line.find_first_of("0123456789");
            std::uint32_t uid = 0;
            if (at != std::string::npos &&
                std::from_chars(line.data() + at, line.data() + line.size(), uid).ec == std::errc() &&
                uid >= first && uid - first < count && std::find(uids.begin(), uids.end(), uid) == uids.end())
                uids.push_back(uid);
            break;
        }
    }
    std::sort(uids.begin(), uids.end());
    return uids;
}

}  // namespace jaild
