#include "jaild/sandbox/zygote.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "common/linux_compat.h"
#include "jaild/sandbox/program_start.h"
#include "jaild/sandbox/zygote_abi.h"

namespace jaild {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// How long a zygote may take to import its preload, and to answer one request (a fork).
constexpr milliseconds kStartTimeout{120'000};
constexpr milliseconds kReplyTimeout{5'000};
constexpr seconds kLongestPause{60};

// A variable an interpreter reads when it starts, which a warm run cannot change afterwards.
bool start_time_variable(std::string_view entry) {
    return entry.starts_with("PYTHON") || entry.starts_with("LANG=") || entry.starts_with("LC_");
}

std::vector<std::string> start_time_variables(const std::vector<std::string>& env) {
    std::vector<std::string> out;
    std::copy_if(env.begin(), env.end(), std::back_inserter(out),
                 [](const std::string& e) { return start_time_variable(e); });
    std::sort(out.begin(), out.end());
    return out;
}

// Threads of a preloaded module would make the zygote unable to fork (jaild/zygote/main.cc checks it):
// the numeric libraries are told to keep to the calling thread.
constexpr const char* kSingleThreaded[] = {"OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1",
                                           "NUMEXPR_NUM_THREADS=1"};

// Whether `fd` became readable within `timeout`; any of `others` becoming readable first ends the wait too
// (with false).
bool wait_readable(int fd, milliseconds timeout, std::initializer_list<int> others = {}) {
    pollfd fds[3] = {{fd, POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    nfds_t count = 1;
    for (int other : others)
        if (count < 3) fds[count++].fd = other;
    const auto deadline = steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
        if (left <= 0) return false;
        const int rc = ::poll(fds, count, static_cast<int>(left));
        if (rc < 0 && errno == EINTR) continue;
        return rc > 0 && fds[0].revents != 0;
    }
}

std::error_code last_error() { return {errno, std::system_category()}; }

}  // namespace

bool zygote_command_fits(const std::vector<std::string>& argv) {
    if (argv.empty() || argv[0] != "python3") return false;
    std::size_t i = 1;
    while (i < argv.size() && (argv[i] == "-u" || argv[i] == "-B")) ++i;
    if (i >= argv.size()) return false;  // the program from stdin: cold
    if (argv[i] == "-c" || argv[i] == "-m") return i + 1 < argv.size() && !argv[i + 1].empty();
    return !argv[i].empty() && argv[i][0] != '-';
}

struct Zygote::Process {
    pid_t pid = -1;
    unique_fd pidfd;
    unique_fd socket;
    std::unique_ptr<cgroup::JobCgroup> cgroup;
    steady_clock::time_point started;
    std::uint32_t forks = 0;
    std::string name;
};

Zygote::Zygote(Setup setup) : setup_(std::move(setup)), wakeup_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread([this] { keep(); });
}

Zygote::~Zygote() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake();
    thread_.join();
}

void Zygote::wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t ignored = ::write(wakeup_.get(), &one, sizeof one);
}

bool Zygote::fits(const RunPlan& plan) const {
    return plan.zygote == setup_.language && plan.packages.env.empty() && zygote_command_fits(plan.argv) &&
           start_time_variables(plan.env) == start_time_variables(setup_.env);
}

bool Zygote::ready() {
    std::lock_guard lock(mutex_);
    return current_ && !replace_;
}

Zygote::Counters Zygote::counters() {
    std::lock_guard lock(mutex_);
    return counters_;
}

std::unique_ptr<Zygote::Process> Zygote::launch(std::string& why) {
    auto process = std::make_unique<Process>();
    process->name = fmt::format("{}-{}", setup_.name_prefix, ++launched_);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        why = "socketpair: " + last_error().message();
        return nullptr;
    }
    process->socket.reset(pair[0]);
    // Above the descriptors posix_spawn places, so that no dup2 below lands on its own source.
    const unique_fd theirs(::fcntl(pair[1], F_DUPFD_CLOEXEC, 16));
    ::close(pair[1]);
    std::error_code ec;
    if (setup_.cgroups) {
        process->cgroup = setup_.cgroups->create(process->name, cgroup::JobLimits{}, ec);
        if (!process->cgroup) {
            why = "creating its cgroup: " + ec.message();
            return nullptr;
        }
    }
    const cgroup::AttachFds none;
    const cgroup::AttachFds& attach = process->cgroup ? process->cgroup->attach() : none;

    std::vector<std::string> args = {setup_.program, "--support", setup_.support_dir, "--cgroup-fds",
                                     std::to_string(attach.procs_count)};
    for (const std::string& module : setup_.preload) args.insert(args.end(), {"--preload", module});
    std::vector<std::string> env = setup_.env;
    for (const char* entry : kSingleThreaded) env.emplace_back(entry);
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
    for (int i = 0; i < attach.procs_count; ++i)
        posix_spawn_file_actions_adddup2(&actions, attach.procs_fds[static_cast<std::size_t>(i)], 4 + i);
    posix_spawn_file_actions_addclosefrom_np(&actions, 4 + attach.procs_count);
    sigset_t none_blocked, all;
    ::sigemptyset(&none_blocked);
    ::sigfillset(&all);
    posix_spawnattr_setsigmask(&attributes, &none_blocked);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int rc =
        ::posix_spawn(&process->pid, setup_.program.c_str(), &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
        why = "starting " + setup_.program + ": " + std::strerror(rc);
        retire(std::move(process), nullptr);
        return nullptr;
    }
    process->pidfd.reset(sys::pidfd_open(process->pid));
    process->started = steady_clock::now();

    ZygoteReady hello;
    if (!wait_readable(process->socket.get(), kStartTimeout, {process->pidfd.get(), wakeup_.get()}) ||
        ::recv(process->socket.get(), &hello, sizeof hello, 0) != sizeof hello ||
        hello.magic != ZygoteReady::expected_magic) {
        why = "it ended or did not answer before it was ready (its log says why)";
        retire(std::move(process), nullptr);
        return nullptr;
    }
    hello.version[sizeof hello.version - 1] = '\0';
    const std::string version = hello.version;
    if (!setup_.expected_version.empty() && setup_.expected_version != version) {
        why =
            fmt::format("its interpreter is Python {}, the language's python3 is {}", version, setup_.expected_version);
        retire(std::move(process), nullptr);
        return nullptr;
    }
    spdlog::info("zygote {}: ready as pid {} (Python {}, {} preloaded modules) after {} ms", setup_.language,
                 process->pid, version, setup_.preload.size(),
                 std::chrono::duration_cast<milliseconds>(steady_clock::now() - process->started).count());
    return process;
}

void Zygote::retire(std::unique_ptr<Process> process, const char* why) {
    if (why) spdlog::info("zygote {}: pid {} stops: {}", setup_.language, process->pid, why);
    // Its socket closed, it ends by itself; its children (runs) are left to their sandboxes' reapers.
    process->socket.reset();
    if (process->pid > 0) {
        if (!wait_readable(process->pidfd.get(), milliseconds(5000)) && process->pidfd)
            sys::pidfd_send_signal(process->pidfd.get(), SIGKILL);
        siginfo_t info{};
        while (::waitid(P_PID, static_cast<id_t>(process->pid), &info, WEXITED) != 0 && errno == EINTR) {
        }
    }
    if (process->cgroup) {
        if (const std::error_code ec = cgroup::remove_within(*process->cgroup, milliseconds(1000)))
            spdlog::warn("zygote {}: removing its cgroup: {}", setup_.language, ec.message());
    }
}

void Zygote::keep() {
    seconds pause{1};
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (!current_) {
            lock.unlock();
            std::string why;
            std::unique_ptr<Process> process = launch(why);
            lock.lock();
            if (!process && stopping_) break;
            ++counters_.starts;
            if (!process) {
                ++counters_.failures;
                spdlog::warn("zygote {}: not started: {}; its runs start cold; next try in {} s", setup_.language, why,
                             pause.count());
                lock.unlock();
                wait_readable(wakeup_.get(), pause);
                lock.lock();
                pause = std::min(pause * 2, kLongestPause);
                continue;
            }
            current_ = std::move(process);
            replace_ = false;
            continue;
        }
        milliseconds until_old = milliseconds(60'000);
        if (setup_.max_age.count() > 0)
            until_old = std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                                      current_->started + setup_.max_age - steady_clock::now()));
        const int pidfd = current_->pidfd.get();
        const bool replace = replace_;
        lock.unlock();
        const bool died = !replace && wait_readable(pidfd, until_old, {wakeup_.get()});
        std::uint64_t drained;
        while (::read(wakeup_.get(), &drained, sizeof drained) > 0) {
        }
        lock.lock();
        const bool old = setup_.max_age.count() > 0 && steady_clock::now() >= current_->started + setup_.max_age;
        if (!died && !replace_ && !old && !stopping_) continue;
        std::unique_ptr<Process> leaving = std::move(current_);
        const bool lived_long = steady_clock::now() - leaving->started > kLongestPause;
        if (died) ++counters_.failures;
        lock.unlock();
        if (died) {
            spdlog::warn("zygote {}: pid {} died; runs start cold until it is back", setup_.language, leaving->pid);
            retire(std::move(leaving), nullptr);
            if (lived_long) pause = seconds(1);
            wait_readable(wakeup_.get(), pause);
            pause = std::min(pause * 2, kLongestPause);
        } else {
            retire(std::move(leaving), stopping_ ? "jaild stops"
                                       : old     ? "past its age"
                                                 : "past its fork budget or after a failed request");
        }
        lock.lock();
    }
}

bool Zygote::start(const RunPlan& plan, const cgroup::JobCgroup& group, std::uint32_t uid, Spawned& sandbox,
                   std::string& why) {
    Spawned::ProgramEnds ends = std::move(sandbox.program_ends);  // closed when this returns
    struct Release {
        Spawned& sandbox;
        ~Release() {
            for (unique_fd& ns : sandbox.namespaces) ns.reset();
        }
    } release{sandbox};
    std::lock_guard lock(mutex_);
    if (!current_ || replace_) {
        why = "the zygote is not ready";
        return false;
    }
    pid_t program = -1;
    const Outcome outcome = request(*current_, plan, group, uid, sandbox, ends, program, why);
    if (outcome == Outcome::refused) return false;
    if (program > 0) sandbox.program_pidfd.reset(sys::pidfd_open(program));
    if (outcome == Outcome::unknown) {
        // The zygote may have forked before it failed: starting the program cold as well could run it twice
        // (twice in a session's workspace). The reaper adopts PID 2 if it exists; if not, it ends at once
        // and the run fails as a sandbox that ended without a report.
        spdlog::warn("zygote {}: {}; replacing it", setup_.language, why);
        replace_ = true;
        wake();
    }
    ++counters_.forks;
    if (setup_.max_forks > 0 && ++current_->forks >= setup_.max_forks) {
        replace_ = true;
        wake();
    }
    const AdoptMessage adopt;
    if (::send(sandbox.report_r.get(), &adopt, sizeof adopt, MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof adopt) {
        // The reaper is gone (killed from outside): the run ends as its namespace does, with its report.
        spdlog::warn("zygote {}: the sandbox's reaper did not take the adoption: {}", setup_.language,
                     std::strerror(errno));
    }
    return true;
}

Zygote::Outcome Zygote::request(Process& process, const RunPlan& plan, const cgroup::JobCgroup& group,
                                std::uint32_t uid, Spawned& sandbox, Spawned::ProgramEnds& ends, pid_t& program,
                                std::string& why) {
    const ResolvedLimits& l = plan.limits;
    const rlimits::Table limits = rlimits::prepare({l.cpu_ms, l.fsize_bytes, l.nofile, l.nproc, l.stack_bytes});
    const std::string message = warm_start_message(limits, plan.cwd, exec_candidates(plan), plan.argv, plan.env);
    if (message.empty()) {
        why = "its command line is too long for a warm start";
        return Outcome::refused;
    }
    const unique_fd start(::memfd_create("jaild-run-start", MFD_CLOEXEC));
    if (!start || ::write(start.get(), message.data(), message.size()) != static_cast<ssize_t>(message.size())) {
        why = "memfd: " + last_error().message();
        return Outcome::refused;
    }
    ZygoteRequest r;
    r.uid = uid;
    r.gid = uid;
    for (const rlimits::Entry& entry : limits)
        r.rlimits[r.rlimit_count++] = {entry.resource, 0, entry.soft, entry.hard};
    const cgroup::AttachFds& attach = group.attach();
    r.has_result = ends.result ? 1 : 0;
    r.cgroup_fd_count = static_cast<std::uint32_t>(attach.procs_count);
    if (!sandbox.mount_ns ||
        std::any_of(sandbox.namespaces.begin(), sandbox.namespaces.end(), [](const unique_fd& ns) { return !ns; })) {
        why = "the sandbox did not send its namespaces";
        return Outcome::refused;
    }
    std::vector<int> fds = {sandbox.mount_ns.get()};
    for (const unique_fd& ns : sandbox.namespaces) fds.push_back(ns.get());
    fds.insert(fds.end(),
               {ends.stdin_r.get(), ends.stdout_w.get(), ends.stderr_w.get(), ends.report_w.get(), start.get()});
    if (ends.result) fds.push_back(ends.result.get());
    for (int i = 0; i < attach.procs_count; ++i) fds.push_back(attach.procs_fds[static_cast<std::size_t>(i)]);

    iovec data{&r, sizeof r};
    msghdr header{};
    header.msg_iov = &data;
    header.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * ZygoteRequest::max_fds)] = {};
    header.msg_control = control;
    header.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* rights = CMSG_FIRSTHDR(&header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(rights), fds.data(), sizeof(int) * fds.size());
    ZygoteReply answer;
    if (::sendmsg(process.socket.get(), &header, MSG_NOSIGNAL) != sizeof r) {
        why = "the zygote did not take a request: " + last_error().message();
        replace_ = true;  // it is gone or going: its keeper starts another
        wake();
        return Outcome::refused;
    }
    if (!wait_readable(process.socket.get(), kReplyTimeout) ||
        ::recv(process.socket.get(), &answer, sizeof answer, 0) != sizeof answer ||
        answer.magic != ZygoteReply::expected_magic) {
        why = "the zygote did not answer a request";
        return Outcome::unknown;
    }
    if (answer.err != 0) {
        why = std::string("the zygote could not fork: ") + std::strerror(answer.err);
        return Outcome::refused;
    }
    program = answer.pid;
    return Outcome::forked;
}

}  // namespace jaild
