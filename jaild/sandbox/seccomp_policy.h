// The seccomp policy of every sandbox: one table, a reason beside each rule. Compiled once at start in
// jaild with libseccomp and exported as BPF; the child only installs it (the last step before it forks the
// program), so no run pays for compilation.
#pragma once

#include <linux/filter.h>

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jaild::seccomp {

struct Rule {
    enum class Action { deny, enosys, deny_flags, deny_ioctl, deny_personality };
    const char* syscall;
    Action action;
    const char* why;
};

std::span<const Rule> rules();

class Filter {
public:
    // Parent, at start. Throws std::runtime_error when libseccomp fails. `allowed`: rules of the table left
    // out (the zygote's own filter keeps the calls its children still need: jaild/zygote/confine.h).
    static Filter compile(std::initializer_list<std::string_view> allowed = {});
    // Chroot mode's filter (sandbox.isolation = "chroot"): the table, and what the namespaces it lacks would have
    // kept apart. System V IPC and POSIX message queues (no IPC namespace: another run of the same uid later
    // would find them) answer EPERM; with `unix_sockets_only` (allow_network = false, and no network
    // namespace) so does every socket but AF_UNIX (EAFNOSUPPORT).
    static Filter compile_for_chroot(bool unix_sockets_only);
    const sock_fprog* program() const { return &fprog_; }
    std::size_t instructions() const { return code_.size(); }
    // Syscalls of the table this architecture does not have (reported by jaild --check).
    const std::vector<std::string>& skipped() const { return skipped_; }
    // True where the kernel lacks SECCOMP_RET_KILL_PROCESS (gVisor): a call of a foreign architecture kills
    // only the thread that made it (it is refused either way).
    bool kills_thread_only() const { return kills_thread_only_; }

    Filter(Filter&& other) noexcept;
    Filter& operator=(Filter&&) = delete;
    Filter(const Filter&) = delete;

private:
    Filter() = default;
    static Filter build(std::initializer_list<std::string_view> allowed, bool chroot, bool unix_sockets_only);
    std::vector<sock_filter> code_;
    sock_fprog fprog_{};
    std::vector<std::string> skipped_;
    bool kills_thread_only_ = false;
};

// Child, after no_new_privs: installs the filter. Returns errno.
int apply(const sock_fprog* program) noexcept;

}  // namespace jaild::seccomp
