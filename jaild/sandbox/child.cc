#include "jaild/sandbox/child.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/linux_compat.h"
#include "jaild/sandbox/caps.h"
#include "jaild/sandbox/credentials.h"
#include "jaild/sandbox/reaper_loop.h"
#include "jaild/sandbox/seccomp_policy.h"

namespace jaild {

namespace {

constexpr int kResultFd = child_result_fd;  // the program's private result channel, when it has one
constexpr int kReportFd = child_report_fd;  // where the report channel sits after the stdio shuffle (close-on-exec)
constexpr int kReaperFd = child_reaper_fd;  // jaild-reaper, exec'd to start the program (close-on-exec)
constexpr int kParked = 10;                 // above all three while they are moved into place

void send_report(int fd, const ChildReport& report) noexcept {
    // The channel is a SOCK_SEQPACKET socket pair: each record is one message, read whole.
    while (::write(fd, &report, sizeof report) < 0 && errno == EINTR) {
    }
}

[[noreturn]] void fail(int fd, Stage stage, int err, int detail = 0) noexcept {
    send_report(fd, ChildReport{ChildReport::failed, stage, err, detail, 0});
    ::_exit(127);
}

// The end of one setup step: a failure ends the child with its report. A failure injected for this stage
// (ChildSpec::injected) is reported as the step's own.
void step(const ChildSpec& s, int fd, Stage stage, int err, int detail = 0) noexcept {
    if (err == 0 && s.injected.stage == stage) err = s.injected.err;
    if (err != 0) fail(fd, stage, err, detail);
}

int errno_of(int rc) noexcept { return rc == 0 ? 0 : errno; }

// The first record: our mount namespace (new since the clone), for jaild to hold until after the run's
// answer (Spawned::mount_ns), and, for a sandbox a zygote's child will enter (ChildSpec::send_namespaces),
// our other namespaces after it (Spawned::namespaces): a process outside may open them only with the right
// to trace us, which neither jaild (ProtectProc=invisible in jaild.service hides our /proc entry once we run
// as the sandbox's uid) nor the zygote has. Returns the errno of a failed send: jaild waits for this record
// (spawn.cc), so the child must not go on without having sent it.
int send_namespaces(int fd, bool all) noexcept {
    ChildReport record{ChildReport::mount_namespace, Stage::none, 0, 0, 0};
    const std::size_t count = all ? namespace_count : 1;
    int ns[namespace_count];
    std::size_t opened = 0;
    for (; opened < count; ++opened) {
        ns[opened] = ::open(namespace_paths[opened], O_RDONLY | O_CLOEXEC);
        if (ns[opened] < 0) break;
    }
    iovec data{&record, sizeof record};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * namespace_count)] = {};
    if (opened == count) {
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        std::memcpy(CMSG_DATA(header), ns, sizeof(int) * count);
    } else {
        record.err = errno;
    }
    ssize_t sent;
    while ((sent = ::sendmsg(fd, &message, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    const int err = sent < 0 ? errno : 0;
    for (std::size_t i = 0; i < opened; ++i) ::close(ns[i]);
    return err;
}

int write_zero(int fd) noexcept { return ::write(fd, "0", 1) == 1 ? 0 : errno; }

// v1 (and v2 without CLONE_INTO_CGROUP): writing "0" to cgroup.procs moves the writer. The new cgroup
// namespace comes after, so that it is rooted at the job's cgroup and /proc/self/cgroup shows "/".
int join_cgroup(const ChildSpec& s, int* which) noexcept {
    for (int i = 0; i < s.cgroup.procs_count; ++i) {
        if (int err = write_zero(s.cgroup.procs_fds[static_cast<std::size_t>(i)])) {
            *which = i;
            return err;
        }
    }
    return 0;
}

// Stdio onto the pipes, the result channel onto fd 3 (inherited by the program), the report channel onto
// fd 4 and jaild-reaper onto fd 5 (both close-on-exec: the program's execve closes them, and the reaper gets
// the report channel only), then every other descriptor closed: another thread of jaild may have had pipes
// of another run open when we were cloned. The sources are parked above 5 first so that moving one into
// place never overwrites another.
int setup_fds(const ChildSpec& s) noexcept {
    const int report = ::fcntl(s.report_fd, F_DUPFD_CLOEXEC, kParked);
    const int result = s.result_fd >= 0 ? ::fcntl(s.result_fd, F_DUPFD_CLOEXEC, kParked) : -1;
    const int reaper = s.reaper_fd >= 0 ? ::fcntl(s.reaper_fd, F_DUPFD_CLOEXEC, kParked) : -1;
    if (report < 0 || (s.result_fd >= 0 && result < 0) || (s.reaper_fd >= 0 && reaper < 0)) return errno;
    if (::dup2(s.stdin_fd, 0) < 0 || ::dup2(s.stdout_fd, 1) < 0 || ::dup2(s.stderr_fd, 2) < 0) return errno;
    if (::dup3(report, kReportFd, O_CLOEXEC) < 0) return errno;
    if (result >= 0) {
        if (::dup2(result, kResultFd) < 0) return errno;
    } else {
        ::close(kResultFd);  // no channel: whatever of jaild's sat on fd 3 must not reach the program
    }
    if (reaper >= 0) {
        if (::dup3(reaper, kReaperFd, O_CLOEXEC) < 0) return errno;
    } else {
        ::close(kReaperFd);
    }
    return errno_of(sys::close_range(kReaperFd + 1, ~0U, 0));
}

int bring_up_loopback() noexcept {
    const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return errno;
    ifreq request{};
    std::memcpy(request.ifr_name, "lo", 3);
    int err = errno_of(::ioctl(sock, SIOCGIFFLAGS, &request));
    if (err == 0) {
        request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
        err = errno_of(::ioctl(sock, SIOCSIFFLAGS, &request));
    }
    ::close(sock);
    return err;
}

// jaild ignores SIGPIPE and may block signals in its threads; the program must start with defaults.
void reset_signals() noexcept {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Becomes jaild-reaper (reaper_main.cc), which starts the program and reaps for the rest of the run. Returns
// only when the exec failed (errno tells why).
void become_reaper(const ChildSpec& s) noexcept {
    char* const envp[] = {nullptr};
    if (::fcntl(kReportFd, F_SETFD, 0) != 0) return;  // the reaper writes its reports there
    ::execveat(kReaperFd, "", s.reaper_argv, envp, AT_EMPTY_PATH);
    const int err = errno;
    ::fcntl(kReportFd, F_SETFD, FD_CLOEXEC);
    errno = err;
}

// The reaper loop's system calls over the C library (reaper_loop.h), for a sandbox without jaild-reaper.
struct LibcSys {
    static long result(long rc) noexcept { return rc < 0 ? -errno : rc; }
    static long execve(const char* path, char* const* argv, char* const* envp) noexcept {
        return result(::execve(path, argv, envp));
    }
    // glibc's clone() wants an int(void*) entry: the child and its argument travel in a trampoline in static
    // memory (we go on at once and spawn only once; the child reads it first thing).
    struct Trampoline {
        void (*child)(void*);
        void* arg;
    };
    static int enter(void* trampoline) noexcept {
        const auto* t = static_cast<const Trampoline*>(trampoline);
        t->child(t->arg);
        return 127;
    }
    static long spawn(void (*child)(void*), void* arg, char* stack_top) noexcept {
        static Trampoline trampoline;
        trampoline = {child, arg};
        return result(::clone(enter, stack_top, CLONE_VM | SIGCHLD, &trampoline));
    }
    // Raw system calls: glibc's set*id wrappers would signal the threads of jaild it believes we have.
    static long become_program() noexcept {
        const long gid = ::syscall(SYS_getegid);
        const long uid = ::syscall(SYS_geteuid);
        if (::syscall(SYS_setresgid, gid, gid, gid) != 0 || ::syscall(SYS_setresuid, uid, uid, uid) != 0) return -errno;
        return 0;
    }
    static long become_own() noexcept {
        const long gid = ::syscall(SYS_getgid);
        const long uid = ::syscall(SYS_getuid);
        if (::syscall(SYS_setresgid, -1L, gid, -1L) != 0 || ::syscall(SYS_setresuid, -1L, uid, -1L) != 0) return -errno;
        // The change of effective ids cleared the parent-death signal (prctl(2)): armed again, and should jaild
        // have ended meanwhile (its end of the report channel closed), we end now.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return -errno;
        pollfd report_channel{kReportFd, 0, 0};
        if (::poll(&report_channel, 1, 0) > 0 && (report_channel.revents & POLLHUP) != 0) ::_exit(0);
        return 0;
    }
    static void wait_word(std::uint32_t* word) noexcept { ::syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0, nullptr); }
    static void wake_word(std::uint32_t* word) noexcept { ::syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1); }
    static long close(int fd) noexcept { return result(::close(fd)); }
    static long wait_any(int* status) noexcept { return result(::waitpid(-1, status, __WALL)); }
    static void report(const ChildReport& record) noexcept { send_report(kReportFd, record); }
    [[noreturn]] static void exit(int code) noexcept { ::_exit(code); }
};

// The zygote child's descriptors: stdio onto 0-2, the result channel onto 3 (or 3 closed), the report
// channel onto 4 and the start memfd onto 5 (both close-on-exec), every other descriptor closed: the
// zygote's own (its socket to jaild, the other runs' report channels it holds) must not reach the program.
int arrange_entered_fds(const EnterSpec& s) noexcept {
    const int sources[] = {s.stdin_fd, s.stdout_fd, s.stderr_fd, s.result_fd, s.report_fd, s.start_fd};
    int parked[6];
    for (int i = 0; i < 6; ++i) {
        parked[i] = sources[i] < 0 ? -1 : ::fcntl(sources[i], F_DUPFD_CLOEXEC, kParked + 10);
        if (sources[i] >= 0 && parked[i] < 0) return errno;
    }
    for (int target = 0; target < 6; ++target) {
        const int flags = target >= kReportFd ? O_CLOEXEC : 0;
        if (parked[target] < 0) {
            ::close(target);
        } else if (::dup3(parked[target], target, flags) < 0) {
            return errno;
        }
    }
    return errno_of(sys::close_range(child_start_fd + 1, ~0U, 0));
}

void restore_signals(const struct sigaction* dispositions) noexcept {
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dispositions[sig], nullptr);
    }
    // glibc's sigaction refuses its two internal signals (32 and 33), which the zygote may have inherited
    // as ignored: a fresh interpreter has them at their default, and an ignored signal survives execve.
    struct {
        unsigned long handler, flags, restorer, mask;
    } default_action{};  // SIG_DFL, the kernel's layout of struct sigaction
    for (int sig = 32; sig < SIGRTMIN; ++sig) ::syscall(SYS_rt_sigaction, sig, &default_action, nullptr, 8);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace

[[noreturn]] void fail_step(Stage stage, int err, int detail) noexcept { fail(kReportFd, stage, err, detail); }

// The order follows run_child's, minus what the sandbox already has (its mounts, root, hostname and
// loopback): the cgroup before its namespace (a cgroup namespace rooted at the run's cgroup could not move
// us into it from outside), the namespaces before anything that drops a capability setns needs.
void enter_sandbox(const EnterSpec& s) noexcept {
    int detail = 0;
    int fd = s.report_fd;
    for (std::size_t i = 0; i < s.cgroup_fd_count; ++i) {
        if (const int err = write_zero(s.cgroup_fds[i])) fail(fd, Stage::cgroup_attach, err, static_cast<int>(i));
    }
    for (std::size_t i = 0; i < namespace_count; ++i) {
        if (namespace_types[i] == CLONE_NEWPID) continue;  // we were forked into it
        if (::setns(s.namespaces[i], namespace_types[i]) != 0)
            fail(fd, Stage::join_namespaces, errno, namespace_types[i]);
    }
    if (const int err = arrange_entered_fds(s)) fail(fd, Stage::file_descriptors, err);
    fd = kReportFd;
    if (const int err = rlimits::apply(s.rlimits, s.rlimit_count, &detail)) fail(fd, Stage::rlimits, err, detail);
    if (const int err = caps::lock_securebits()) fail(fd, Stage::securebits, err);
    if (const int err = caps::drop_bounding(s.last_cap)) fail(fd, Stage::bounding_set, err);
    if (const int err = credentials::apply(s.uid, s.gid, s.uid, s.gid)) fail(fd, Stage::credentials, err);
    if (const int err = caps::clear(s.empty_caps)) fail(fd, Stage::capabilities, err);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(fd, Stage::no_new_privs, errno);
    // The uid change made us undumpable (our /proc entries root's), which a cold run's execve undoes.
    if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail(fd, Stage::dumpable, errno);
    restore_signals(s.signals);
    ::umask(022);
    if (const int err = seccomp::apply(s.seccomp)) fail(fd, Stage::seccomp, err);
}

// Every step runs its step() line, even one this sandbox does not need (its error is then 0), so that a
// failure injected for it is reported at its place in the order.
[[noreturn]] void run_child(const ChildSpec& s) noexcept {
    int fd = s.report_fd;
    int detail = 0;
    // A step that names what failed (detail) runs before its step() line: the order in which a call's
    // arguments are evaluated is unspecified, so the detail must be written before it is read.
    int err = s.join_cgroup_by_write ? join_cgroup(s, &detail) : 0;
    step(s, fd, Stage::cgroup_attach, err, detail);
    step(s, fd, Stage::cgroup_namespace, s.new_cgroup_namespace ? errno_of(::unshare(CLONE_NEWCGROUP)) : 0);
    step(s, fd, Stage::network_namespace, s.netns_fd >= 0 ? errno_of(::setns(s.netns_fd, CLONE_NEWNET)) : 0);
    step(s, fd, Stage::parent_death, errno_of(::prctl(PR_SET_PDEATHSIG, SIGKILL)));
    // Unsent, jaild would wait for it until our next record; ending here gives it that record or EOF.
    step(s, fd, Stage::file_descriptors, send_namespaces(fd, s.send_namespaces));
    step(s, fd, Stage::file_descriptors, setup_fds(s));
    fd = kReportFd;

    // In chroot mode the mounts are jaild's own: its namespace keeps its propagation, and the hostname is the host's.
    step(s, fd, Stage::mount_private, s.chroot ? 0 : mounts::make_private(s.propagation_already_private));
    std::size_t failed_mount = 0;
    err = mounts::apply(s.mount_ops, s.mount_count, &failed_mount, s.remount_refused);
    step(s, fd, Stage::mounts, err, static_cast<int>(failed_mount));
    step(s, fd, Stage::pivot_root,
         s.chroot ? mounts::enter_chroot(s.new_root) : mounts::pivot(s.new_root, s.remount_refused));
    step(s, fd, Stage::root_readonly, mounts::make_root_readonly(s.remount_refused));
    step(s, fd, Stage::hostname, s.chroot ? 0 : errno_of(::sethostname(s.hostname, s.hostname_len)));
    err = s.loopback_up ? bring_up_loopback() : 0;
    // gVisor answers the interface ioctls with ENOTTY; its new network namespaces have lo up already.
    step(s, fd, Stage::loopback, err == ENOTTY && s.remount_refused ? 0 : err);

    err = rlimits::apply(s.rlimits, s.rlimit_count, &detail);
    step(s, fd, Stage::rlimits, err, detail);
    err = caps::lock_securebits();
    step(s, fd, Stage::securebits, err == EINVAL && s.remount_refused ? 0 : err);
    step(s, fd, Stage::bounding_set, caps::drop_bounding(s.last_cap));
    step(s, fd, Stage::credentials, credentials::apply(s.uid, s.gid, s.reaper_uid, s.reaper_gid));
    // A uid change clears the parent-death signal (prctl(2)); set it again for the rest of the run.
    step(s, fd, Stage::parent_death, errno_of(::prctl(PR_SET_PDEATHSIG, SIGKILL)));
    step(s, fd, Stage::capabilities, caps::clear(s.empty_caps));
    step(s, fd, Stage::no_new_privs, errno_of(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)));
    step(s, fd, Stage::cwd, errno_of(::chdir(s.cwd)));
    reset_signals();
    ::umask(022);  // jaild itself may run with 077 (UMask= in jaild.service); programs expect the usual
    step(s, fd, Stage::seccomp, seccomp::apply(s.seccomp));  // last: everything before needs refused calls

    // Without a PID namespace, the program's orphans would go to jaild or the host's init: they come to us.
    // gVisor lets only its PID 1 be a subreaper: there they go to its init, and jaild's kill by uid ends them.
    err = s.chroot ? errno_of(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) : 0;
    step(s, fd, Stage::reaper, err == EINVAL && s.remount_refused ? 0 : err);
    if (s.reaper_fd >= 0) {
        become_reaper(s);
        // jaild waits for us to exec: reaping here would hold it for the whole run. The reaper's command
        // line carries the program's arguments and environment, so E2BIG is the program's own error.
        err = errno;
        if (s.shares_memory) fail(fd, err == E2BIG ? Stage::exec : Stage::reaper, err);
    }
    // Without jaild-reaper we stay PID 1 and run the reaper's loop ourselves.
    const ReaperCommand program{s.exec_paths, s.exec_path_count, s.argv, s.envp};
    alignas(64) char stack[32 * 1024];
    const bool started = reaper_loop::start_and_reap<LibcSys>(program, stack + sizeof stack);
    ::_exit(started ? 0 : 127);
}

std::string_view stage_name(Stage stage) noexcept {
    switch (stage) {
        case Stage::none: return "none";
        case Stage::cgroup_attach: return "cgroup attach";
        case Stage::cgroup_namespace: return "cgroup namespace";
        case Stage::network_namespace: return "network namespace";
        case Stage::parent_death: return "parent-death signal";
        case Stage::file_descriptors: return "file descriptors";
        case Stage::mount_private: return "private mounts";
        case Stage::mounts: return "mounts";
        case Stage::pivot_root: return "pivot_root";
        case Stage::root_readonly: return "read-only root";
        case Stage::hostname: return "hostname";
        case Stage::loopback: return "loopback";
        case Stage::rlimits: return "rlimits";
        case Stage::securebits: return "securebits";
        case Stage::bounding_set: return "capability bounding set";
        case Stage::credentials: return "credentials";
        case Stage::capabilities: return "capabilities";
        case Stage::no_new_privs: return "no_new_privs";
        case Stage::cwd: return "working directory";
        case Stage::seccomp: return "seccomp";
        case Stage::fork: return "fork";
        case Stage::reaper: return "exec of jaild-reaper";
        case Stage::exec: return "exec";
        case Stage::join_namespaces: return "joining the sandbox's namespaces";
        case Stage::dumpable: return "dumpable";
        case Stage::start: return "reading the run's start";
    }
    return "unknown";
}

}  // namespace jaild
