#include "jaild/sandbox/seccomp_policy.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "common/unique_fd.h"

namespace jaild::seccomp {

namespace {

using A = Rule::Action;

// Default: allow. The sandbox already runs as an unprivileged uid with no capabilities; this list removes
// the kernel interfaces that unprivileged code can still reach and that have a history of local privilege
// escalations or would let a run leave its namespaces.
constexpr Rule kRules[] = {
    {"mount", A::deny, "filesystem mounts: the sandbox's view of the filesystem is fixed before exec"},
    {"umount2", A::deny, "unmounting could reveal what masks hide (e.g. /proc/kcore under /dev/null)"},
    {"pivot_root", A::deny, "changing root again"},
    {"chroot", A::deny, "chroot-based escapes with an fd kept open outside"},
    {"fsopen", A::deny, "new mount API (mount family)"},
    {"fsconfig", A::deny, "new mount API (mount family)"},
    {"fsmount", A::deny, "new mount API (mount family)"},
    {"fspick", A::deny, "new mount API (mount family)"},
    {"move_mount", A::deny, "new mount API (mount family)"},
    {"open_tree", A::deny, "new mount API: clones of mounts"},
    {"mount_setattr", A::deny, "new mount API: changes mount flags"},
    {"unshare", A::deny, "new namespaces (user namespaces open most of the kernel's CAP_SYS_ADMIN code)"},
    {"setns", A::deny, "joining other namespaces"},
    {"clone", A::deny_flags, "namespace flags in clone: same as unshare; plain fork and threads stay allowed"},
    {"clone3", A::enosys,
     "its flags live in memory seccomp cannot read; ENOSYS makes glibc fall back to clone, which is checked"},
    {"ptrace", A::deny, "reading and changing other processes of the same uid; seccomp bypass on old kernels"},
    {"process_vm_readv", A::deny, "reading another process's memory"},
    {"process_vm_writev", A::deny, "writing another process's memory"},
    {"process_madvise", A::deny, "acting on another process's memory"},
    {"pidfd_getfd", A::deny, "stealing another process's file descriptors"},
    {"kcmp", A::deny, "probing other processes' kernel objects (KASLR leaks)"},
    {"keyctl", A::deny, "kernel keyrings are not namespaced: keys of other users and many CVEs"},
    {"add_key", A::deny, "kernel keyrings (keyctl family)"},
    {"request_key", A::deny, "kernel keyrings (keyctl family)"},
    {"bpf", A::deny, "eBPF verifier bugs are a recurring local root"},
    {"perf_event_open", A::deny, "perf events: side channels and a long CVE history"},
    {"userfaultfd", A::deny, "stalls kernel page faults: the classic race-widening exploit tool"},
    {"io_uring_setup", A::deny, "io_uring: large attack surface, bypasses seccomp for the operations it runs"},
    {"io_uring_enter", A::deny, "io_uring"},
    {"io_uring_register", A::deny, "io_uring"},
    {"kexec_load", A::deny, "loading a new kernel"},
    {"kexec_file_load", A::deny, "loading a new kernel"},
    {"init_module", A::deny, "kernel modules"},
    {"finit_module", A::deny, "kernel modules"},
    {"delete_module", A::deny, "kernel modules"},
    {"reboot", A::deny, "rebooting the host"},
    {"swapon", A::deny, "swap configuration"},
    {"swapoff", A::deny, "swap configuration"},
    {"acct", A::deny, "process accounting to a file"},
    {"quotactl", A::deny, "filesystem quotas"},
    {"quotactl_fd", A::deny, "filesystem quotas"},
    {"open_by_handle_at", A::deny, "opens files by handle, bypassing the mount namespace (the 'shocker' escape)"},
    {"name_to_handle_at", A::deny, "file handles (pair of open_by_handle_at)"},
    {"lookup_dcookie", A::deny, "kernel profiling interface"},
    {"iopl", A::deny, "I/O port access"},
    {"ioperm", A::deny, "I/O port access"},
    {"modify_ldt", A::deny, "x86 LDT: old source of kernel bugs, needed only by 16-bit code"},
    {"syslog", A::deny, "kernel log: addresses and other users' activity"},
    {"settimeofday", A::deny, "the host's clock"},
    {"clock_settime", A::deny, "the host's clock"},
    {"clock_adjtime", A::deny, "the host's clock"},
    {"adjtimex", A::deny, "the host's clock"},
    {"vhangup", A::deny, "terminal hangup"},
    {"uselib", A::deny, "obsolete a.out loader"},
    {"_sysctl", A::deny, "obsolete sysctl interface"},
    {"nfsservctl", A::deny, "obsolete NFS server control"},
    {"fanotify_init", A::deny, "filesystem-wide event monitoring"},
    {"sethostname", A::deny, "hostname is set by jaild"},
    {"setdomainname", A::deny, "domain name is set by jaild"},
    {"ioctl", A::deny_ioctl, "TIOCSTI/TIOCLINUX push input into a terminal another process reads"},
    {"personality", A::deny_personality,
     "ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and friends weaken ASLR/NX; only the query is allowed"},
};

// Every namespace flag clone() accepts. CLONE_NEWTIME shares its bit with CSIGNAL in clone() and is only
// reachable through clone3, which returns ENOSYS.
constexpr unsigned long kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                             CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

struct CtxDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

void check(int rc, const char* what) {
    if (rc < 0) throw std::runtime_error(std::string("seccomp: ") + what + ": " + std::strerror(-rc));
}

int add_rule(scmp_filter_ctx ctx, const Rule& rule, int nr) {
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    switch (rule.action) {
        case A::deny: return seccomp_rule_add(ctx, eperm, nr, 0);
        case A::enosys: return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
        case A::deny_flags:
            for (unsigned long flag : kNamespaceFlags) {
                if (int rc = seccomp_rule_add(ctx, eperm, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag))) return rc;
            }
            return 0;
        case A::deny_ioctl:
            for (unsigned long request : {TIOCSTI, TIOCLINUX}) {
                // The request argument is an unsigned int: compare the low 32 bits only.
                if (int rc = seccomp_rule_add(ctx, eperm, nr, 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, request)))
                    return rc;
            }
            return 0;
        case A::deny_personality:
            // Allowed: 0 (PER_LINUX) and 0xffffffff (the query). A rule may compare an argument only once,
            // so "neither all zeros nor all ones" (in the low 32 bits the kernel reads) is written as a union:
            // some bit k differs from bit 0.
            for (unsigned k = 1; k < 32; ++k) {
                const unsigned long mask = 1UL | (1UL << k);
                for (unsigned long value : {1UL, 1UL << k}) {
                    if (int rc = seccomp_rule_add(ctx, eperm, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, mask, value)))
                        return rc;
                }
            }
            return 0;
    }
    return -EINVAL;
}

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
    unique_fd fd(::memfd_create("jaild-seccomp", MFD_CLOEXEC));
    if (!fd) throw std::runtime_error(std::string("seccomp: memfd_create: ") + std::strerror(errno));
    check(seccomp_export_bpf(ctx, fd.get()), "export");
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size <= 0 || size % sizeof(sock_filter) != 0) throw std::runtime_error("seccomp: bad exported program size");
    std::vector<sock_filter> code(static_cast<std::size_t>(size) / sizeof(sock_filter));
    if (::pread(fd.get(), code.data(), static_cast<std::size_t>(size), 0) != size)
        throw std::runtime_error("seccomp: short read of exported program");
    return code;
}

}  // namespace

std::span<const Rule> rules() { return kRules; }

Filter::Filter(Filter&& other) noexcept
    : code_(std::move(other.code_)), skipped_(std::move(other.skipped_)), kills_thread_only_(other.kills_thread_only_) {
    fprog_ = {static_cast<unsigned short>(code_.size()), code_.data()};
    other.fprog_ = {};
}

Filter Filter::compile(std::initializer_list<std::string_view> allowed) { return build(allowed, false, false); }

Filter Filter::compile_for_chroot(bool unix_sockets_only) { return build({}, true, unix_sockets_only); }

Filter Filter::build(std::initializer_list<std::string_view> allowed, bool chroot, bool unix_sockets_only) {
    Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx) throw std::runtime_error("seccomp: seccomp_init failed");
    // Only the native ABI: on x86-64 the i386 (int 0x80) and x32 entry points, with their own syscall
    // numbers that a native-only list would not cover, kill the process. Where the kernel lacks that action
    // (gVisor), they kill the calling thread: the call is refused all the same.
    Filter filter;
    if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0) {
        check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_THREAD),
              "bad-arch action SECCOMP_RET_KILL_THREAD");
        filter.kills_thread_only_ = true;
    }
    // no_new_privs is set by the child itself just before, with its own error report.
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "nnp attribute");
    for (const Rule& rule : kRules) {
        if (std::find(allowed.begin(), allowed.end(), std::string_view(rule.syscall)) != allowed.end()) continue;
        const int nr = seccomp_syscall_resolve_name(rule.syscall);
        if (nr == __NR_SCMP_ERROR) {
            filter.skipped_.emplace_back(rule.syscall);
            continue;
        }
        check(add_rule(ctx.get(), rule, nr), rule.syscall);
    }
    if (chroot) {
        for (const char* name : {"shmget", "msgget", "semget", "mq_open"}) {
            const int nr = seccomp_syscall_resolve_name(name);
            if (nr != __NR_SCMP_ERROR) check(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0), name);
        }
    }
    if (unix_sockets_only) {
        check(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                               SCMP_A0(SCMP_CMP_NE, AF_UNIX)),
              "socket");
    }
    filter.code_ = export_bpf(ctx.get());
    filter.fprog_ = {static_cast<unsigned short>(filter.code_.size()), filter.code_.data()};
    return filter;
}

int apply(const sock_fprog* program) noexcept {
    return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, program) == 0 ? 0 : errno;
}

}  // namespace jaild::seccomp
