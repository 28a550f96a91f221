#include "jaild/sandbox/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include "common/linux_compat.h"
#include "jaild/sandbox/caps.h"
#include "jaild/sandbox/program_start.h"
#include "jaild/sandbox/stage_text.h"
#include "jaild/sandbox/uid_pool.h"

namespace jaild {

namespace {

struct Pipe {
    unique_fd read, write;
};

std::error_code make_pipe(Pipe& pipe) {
    int fds[2];
    // CLOEXEC: no other run's child may keep these across its execve.
    if (::pipe2(fds, O_CLOEXEC) != 0) return {errno, std::system_category()};
    pipe.read.reset(fds[0]);
    pipe.write.reset(fds[1]);
    return {};
}

// The report channel: a SOCK_SEQPACKET socket pair, so that the child can pass its mount namespace
// (ChildReport); each record is one message, read whole.
std::error_code make_report_channel(Pipe& channel) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return {errno, std::system_category()};
    channel.read.reset(fds[0]);
    channel.write.reset(fds[1]);
    return {};
}

// The child's first record: its mount namespace, sent in its first steps (or a failure record of an earlier
// step). Blocking, but not for long: a child that shared our memory has sent it before its exec released
// us, a fork-like child sends it within its first few system calls, and a child that died first gives EOF
// (our copy of its end is closed by then). Anything else read here is kept for the job.
void receive_mount_namespace(Spawned& out) {
    ChildReport record;
    iovec data{&record, sizeof record};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * namespace_count)];
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(out.report_r.get(), &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n != sizeof record) return;
    std::size_t received = 0;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i, ++received) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
            if (received == 0)
                out.mount_ns.reset(fd);
            else if (received < namespace_count)
                out.namespaces[received - 1].reset(fd);
            else
                ::close(fd);
        }
    }
    if (record.kind != ChildReport::mount_namespace) out.early_reports.push_back(record);
}

}  // namespace

ChrootRoot& ChrootRoot::operator=(ChrootRoot&& other) noexcept {
    if (this != &other) {
        remove();
        path_ = std::exchange(other.path_, {});
    }
    return *this;
}

void ChrootRoot::remove() noexcept {
    if (path_.empty()) return;
    ::umount2(path_.c_str(), MNT_DETACH);  // EINVAL when its first mount never happened: nothing to detach
    ::rmdir(path_.c_str());
    path_.clear();
}

std::vector<ChildReport> drain_reports(const Spawned& spawned) {
    std::vector<ChildReport> reports = spawned.early_reports;
    ChildReport report;
    while (::read(spawned.report_r.get(), &report, sizeof report) == sizeof report) {
        if (report.kind != ChildReport::mount_namespace) reports.push_back(report);
    }
    return reports;
}

namespace {

// execve needs char* arrays; they point into the plan, which outlives the clone.
std::vector<char*> c_array(const std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

constexpr std::size_t kChildStackBytes = 512 * 1024;
// Network namespaces kept ready (NetnsPool): enough for a burst of runs; each holds kernel memory.
constexpr std::size_t kReadyNetworkNamespaces = 4;
constexpr std::size_t kGuardBytes = 4096;
#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer cannot follow a child that runs instrumented code on a stack it does not know (it reports
// false stack-buffer-overflows and aborts the child): sanitized builds keep the fork-like clone.
constexpr bool kShareMemory = false;
#else
constexpr bool kShareMemory = true;
#endif

int start_child(void* spec) { run_child(*static_cast<const ChildSpec*>(spec)); }

// jaild-reaper beside jaild (the build tree's bin/) or in ../libexec/jaild (an installed jaild).
std::string find_reaper() {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    for (const std::filesystem::path& candidate :
         {self.parent_path() / "jaild-reaper", self.parent_path().parent_path() / "libexec/jaild/jaild-reaper"}) {
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return {};
}

// Chroot mode's <run_dir>/roots: whatever a jaild that died left there detached and removed, then the
// directory bound onto itself and made private, so that the runs' mounts below it never propagate to another
// mount namespace (where the host's mounts are shared) and one lazy unmount at exit takes them all.
void prepare_roots_dir(const std::string& dir, bool propagation_already_private) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());
    while (::umount2(dir.c_str(), MNT_DETACH) == 0) {
    }
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        ::umount2(entry.path().c_str(), MNT_DETACH);
        ::rmdir(entry.path().c_str());
    }
    ::chmod(dir.c_str(), 0700);
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0)
        throw std::runtime_error("cannot bind " + dir + " onto itself: " + std::strerror(errno));
    if (::mount(nullptr, dir.c_str(), nullptr, MS_PRIVATE, nullptr) != 0 &&
        !(errno == EINVAL && propagation_already_private)) {
        const int err = errno;
        ::umount2(dir.c_str(), MNT_DETACH);
        throw std::runtime_error("cannot make " + dir + " a private mount: " + std::strerror(err));
    }
}

}  // namespace

Spawner::Spawner(const Config& config, const std::vector<std::string>& extra_binds, bool check)
    : config_(config),
      rootfs_(config.sandbox, extra_binds, config.languages.support_dir),
      filter_(config.sandbox.chroot ? seccomp::Filter::compile_for_chroot(!config.sandbox.allow_network)
                                    : seccomp::Filter::compile()),
      last_cap_(caps::last_cap()),
      empty_caps_(caps::empty_state()),
      reaper_path_(find_reaper()),
      propagation_already_private_(mounts::own_propagation_already_private()) {
    // Only degraded mode takes what gVisor offers instead; elsewhere the runs' mounts fail and say so.
    if (config.sandbox.degraded)
        remount_refused_ = mounts::try_bind_remount(rootfs_.new_root().c_str(), propagation_already_private_,
                                                    config.sandbox.chroot) == EINVAL;
    if (filter_.kills_thread_only())
        spdlog::warn(
            "seccomp: this kernel lacks SECCOMP_RET_KILL_PROCESS (gVisor?): a call of a foreign "
            "architecture kills the calling thread instead (it is refused either way)");
    if (config.sandbox.chroot) {
        // <run_dir>/roots, or for a check <run_dir>/roots.check-<pid>
        roots_dir_ = rootfs_.new_root() + (check ? "s.check-" + std::to_string(::getpid()) : "s");
        prepare_roots_dir(roots_dir_, propagation_already_private_);
    } else if (!config.sandbox.allow_network && !remount_refused_) {  // gVisor's setns refuses them too
        netns_ = std::make_unique<NetnsPool>(kReadyNetworkNamespaces);
    }
    if (!reaper_path_.empty()) reaper_.reset(::open(reaper_path_.c_str(), O_PATH | O_CLOEXEC));
    if (!reaper_) reaper_path_.clear();
    if (reaper_ && kShareMemory) return_stack(take_stack());  // the event loop's, ready before the first run
}

Spawner::~Spawner() {
    for (void* stack : all_stacks_) ::munmap(stack, kChildStackBytes);
    if (!roots_dir_.empty()) {
        ::umount2(roots_dir_.c_str(), MNT_DETACH);
        if (roots_dir_.find(".check-") != std::string::npos) ::rmdir(roots_dir_.c_str());
    }
}

void* Spawner::take_stack() const {
    std::lock_guard lock(stacks_mutex_);
    if (!free_stacks_.empty()) {
        void* stack = free_stacks_.back();
        free_stacks_.pop_back();
        return stack;
    }
    void* stack =
        ::mmap(nullptr, kChildStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return nullptr;
    // The lowest page stays inaccessible: an overflow faults instead of writing into jaild's memory.
    if (::mprotect(stack, kGuardBytes, PROT_NONE) != 0) {
        ::munmap(stack, kChildStackBytes);
        return nullptr;
    }
    all_stacks_.push_back(stack);
    return stack;
}

void Spawner::return_stack(void* stack) const {
    if (!stack) return;
    std::lock_guard lock(stacks_mutex_);
    free_stacks_.push_back(stack);
}

namespace {

// The descriptors of one run: the program's stdio, the report channel and the result channel.
struct Channels {
    Pipe in, out, err, report;
    unique_fd result_parent, result_child;
};

std::error_code open_channels(const RunPlan& plan, Channels& c) {
    for (Pipe* p : {&c.in, &c.out, &c.err}) {
        if (std::error_code ec = make_pipe(*p)) return ec;
    }
    if (std::error_code ec = make_report_channel(c.report)) return ec;
    if (plan.result_channel) {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return {errno, std::system_category()};
        c.result_parent.reset(pair[0]);
        c.result_child.reset(pair[1]);
    }
    return {};
}

// What the child reads of the plan, in the forms it needs (no allocation after the clone): resource limits,
// the program's candidate paths, argv and envp as char* arrays, and jaild-reaper's command line. Built in
// place and never moved: the arrays point into the strings.
struct ChildInputs {
    rlimits::Table limits{};
    std::vector<std::string> candidates;
    std::vector<const char*> exec_paths;
    std::vector<char*> argv, envp;
    std::vector<std::string> reaper_command;
    std::vector<char*> reaper_argv;
};

// `rlimit_memory`: the memory limit is each process's address space (degraded mode: no cgroup holds it).
void prepare_inputs(const RunPlan& plan, bool warm, bool has_reaper, bool rlimit_memory, ChildInputs& in) {
    const ResolvedLimits& l = plan.limits;
    in.limits = rlimits::prepare(
        {l.cpu_ms, l.fsize_bytes, l.nofile, l.nproc, l.stack_bytes, rlimit_memory ? l.memory_bytes : 0});
    in.candidates = exec_candidates(plan);
    for (const std::string& c : in.candidates) in.exec_paths.push_back(c.c_str());
    in.argv = c_array(plan.argv);
    in.envp = c_array(plan.env);
    if (warm)
        in.reaper_command = {"jaild-reaper", "warm"};
    else if (has_reaper)
        in.reaper_command = reaper_command_line(in.candidates, plan.argv, plan.env);
    in.reaper_argv = c_array(in.reaper_command);
}

// Every signal blocked across the clone, as posix_spawn does: until the child resets its handlers
// (reset_signals, before the program starts) a signal must not run one of jaild's handlers in it — with
// CLONE_VM in jaild's own memory, and in any case writing to asio's wake-up pipe, which jaild would take
// for its own SIGTERM (a `pkill jaild` matches the child's name too). Returns the pid, or -1 with errno set.
long clone_child(ChildSpec& spec, std::uint64_t flags, void* stack, int& pidfd) {
    sigset_t all, saved;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved);
    long pid = -1;
    if (stack) {
        // posix_spawn's way: the child shares jaild's memory on a stack of its own, and jaild waits until it
        // execs (jaild-reaper, which then starts the program) or dies. jaild's address space is neither copied nor
        // left shared copy-on-write: no page-table copy per run, and none of the copy-on-write faults and TLB
        // shootdowns jaild took on every page it wrote while a fork-like child lived (bench/README.md). The
        // child makes only raw system calls and reads the spec, which stays untouched meanwhile. glibc's
        // clone() (not clone3, which has no wrapper that switches stacks) takes the pidfd in parent_tid, and
        // has no CLONE_INTO_CGROUP: on v2 too the child joins its cgroup by writing cgroup.procs.
        spec.shares_memory = true;
        pid = ::clone(start_child, static_cast<char*>(stack) + kChildStackBytes,
                      static_cast<int>(flags | CLONE_VM | CLONE_VFORK) | SIGCHLD, &spec, &pidfd);
    } else {
        clone_args args{};
        args.flags = flags;
        args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
        args.exit_signal = SIGCHLD;
        if (flags & CLONE_INTO_CGROUP) args.cgroup = static_cast<std::uint64_t>(spec.cgroup.clone_into_fd);
        pid = sys::clone3_or_clone(&args);
        if (pid == 0) run_child(spec);
    }
    const int clone_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    errno = clone_errno;
    return pid;
}

void connect_inputs(ChildSpec& spec, const Channels& c, const ChildInputs& in, const MountList& mounts) {
    spec.stdin_fd = c.in.read.get();
    spec.stdout_fd = c.out.write.get();
    spec.stderr_fd = c.err.write.get();
    spec.report_fd = c.report.write.get();
    spec.result_fd = c.result_child.get();
    spec.mount_ops = mounts.ops().data();
    spec.mount_count = mounts.ops().size();
    spec.rlimits = in.limits.data();
    spec.rlimit_count = in.limits.size();
    spec.exec_paths = in.exec_paths.data();
    spec.exec_path_count = in.exec_paths.size();
    spec.argv = in.argv.data();
    spec.envp = in.envp.data();
    spec.reaper_argv = in.reaper_argv.data();
}

// The cgroup's attach descriptors, and the clone flags that place the child in it.
std::uint64_t place_in_cgroup(ChildSpec& spec, cgroup::JobCgroup* cgroup, bool cgroup_v2, bool shares_memory) {
    if (!cgroup) return 0;
    spec.cgroup = cgroup->attach();
    if (spec.chroot) {  // no namespace of any kind: joined by a write, and /proc/self/cgroup shows the host's path
        spec.join_cgroup_by_write = true;
        return 0;
    }
    if (cgroup_v2 && spec.cgroup.clone_into_fd >= 0 && !shares_memory && sys::has_clone3()) {
        // Born in its cgroup: accounted and limited from its first instruction. (A child sharing jaild's
        // memory joins by its first write instead: until it execs, its memory is jaild's anyway; so does one
        // cloned by clone(2) where clone3 is missing.)
        return CLONE_INTO_CGROUP | CLONE_NEWCGROUP;
    }
    spec.join_cgroup_by_write = true;
    spec.new_cgroup_namespace = true;
    return 0;
}

}  // namespace

ChildSpec Spawner::base_spec(const RunPlan& plan, std::uint32_t uid) const {
    ChildSpec spec;
    spec.propagation_already_private = propagation_already_private_;
    spec.chroot = config_.sandbox.chroot;
    spec.remount_refused = remount_refused_;
    spec.new_root = rootfs_.new_root().c_str();
    spec.hostname = rootfs_.hostname().c_str();
    spec.hostname_len = rootfs_.hostname().size();
    spec.loopback_up = !config_.sandbox.allow_network;
    spec.uid = uid;
    spec.gid = uid;
    // gVisor's execve resets a no_new_privs process's effective uid to its real one: jaild-reaper, which starts
    // the program as its effective uid, runs as the program's uid there (docs/security.md "Degraded mode").
    spec.reaper_uid = remount_refused_ ? uid : reaper_uid_of(uid);
    spec.reaper_gid = remount_refused_ ? uid : reaper_uid_of(uid);
    spec.last_cap = last_cap_;
    spec.empty_caps = empty_caps_;
    spec.cwd = plan.cwd.c_str();
    spec.seccomp = filter_.program();
    spec.reaper_fd = reaper_.get();
    spec.injected = injected_;
    return spec;
}

std::uint64_t Spawner::choose_namespaces(ChildSpec& spec, unique_fd& netns) const {
    if (spec.chroot) {  // the host's network, whether or not allow_network says so: nothing to bring up
        spec.loopback_up = false;
        return CLONE_PIDFD;
    }
    std::uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_PIDFD;
    if (config_.sandbox.allow_network) return flags;
    if (netns_) netns = netns_->take();
    if (netns) {
        spec.netns_fd = netns.get();
        spec.loopback_up = false;
    } else {
        flags |= CLONE_NEWNET;
    }
    return flags;
}

Spawned Spawner::spawn(const RunPlan& plan, std::uint32_t uid, cgroup::JobCgroup* cgroup, bool cgroup_v2,
                       std::error_code& ec, bool warm, bool keep_program_ends) const {
    Spawned out;
    if (warm && !reaper_) {
        ec = std::make_error_code(std::errc::not_supported);
        return out;
    }
    Channels channels;
    if ((ec = open_channels(plan, channels))) return out;
    if (!roots_dir_.empty()) {
        out.chroot_root = ChrootRoot(roots_dir_ + "/" + std::to_string(uid) + "-" + std::to_string(++next_root_));
        if (::mkdir(out.chroot_root.path().c_str(), 0700) != 0) {
            ec = {errno, std::system_category()};
            return out;
        }
    }
    out.mounts =
        rootfs_.for_job({uid, uid, plan.limits.tmp_bytes, &plan.files, &plan.workspace_source, &plan.tmp_source,
                         &plan.packages, plan.live, plan.live, out.chroot_root ? &out.chroot_root.path() : nullptr});
    ChildInputs inputs;
    prepare_inputs(plan, warm, static_cast<bool>(reaper_),
                   config_.sandbox.degraded && cgroup && !cgroup->stats().measured, inputs);
    ChildSpec spec = base_spec(plan, uid);
    if (out.chroot_root) spec.new_root = out.chroot_root.path().c_str();
    connect_inputs(spec, channels, inputs, out.mounts);
    // Our copy of a prepared namespace is closed when this returns; the child has entered it by then (it
    // shares our memory until its exec) or holds its own copy (a fork-like clone).
    unique_fd netns;
    std::uint64_t flags = choose_namespaces(spec, netns);
    // Taken here, given back when this returns (the child has exec'd or died by then).
    void* const stack = reaper_ && kShareMemory ? take_stack() : nullptr;
    struct StackReturn {
        const Spawner& spawner;
        void* stack;
        ~StackReturn() { spawner.return_stack(stack); }
    } stack_return{*this, stack};
    flags |= place_in_cgroup(spec, cgroup, cgroup_v2, stack != nullptr);
    spec.send_namespaces = keep_program_ends;

    int pidfd = -1;
    const long pid = clone_child(spec, flags, stack, pidfd);
    if (pid < 0) {
        ec = {errno, std::system_category()};
        return out;
    }
    out.pid = static_cast<pid_t>(pid);
    out.pidfd.reset(pidfd);
    out.stdin_w = std::move(channels.in.write);
    out.stdout_r = std::move(channels.out.read);
    out.stderr_r = std::move(channels.err.read);
    out.report_r = std::move(channels.report.read);
    out.result = std::move(channels.result_parent);
    if (keep_program_ends) {
        out.program_ends = {std::move(channels.in.read), std::move(channels.out.write), std::move(channels.err.write),
                            std::move(channels.report.write), std::move(channels.result_child)};
    }
    channels.report.write.reset();
    receive_mount_namespace(out);
    return out;
}

std::string Spawner::describe_failure(const ChildReport& report, const Spawned& spawned) const {
    if (report.stage != Stage::mounts) return stage_failure_text(report);
    const std::string& root = spawned.chroot_root ? spawned.chroot_root.path() : rootfs_.new_root();
    return stage_failure_text(report, spawned.mounts.describe(static_cast<std::size_t>(report.detail), root));
}

}  // namespace jaild
