// jaild-zygote: a Python interpreter with the operator's modules already imported, which forks one child
// per run into a sandbox jaild has built (docs/security.md, "Warm Python"; jaild/sandbox/zygote.h is jaild's
// side). Started by jaild only, as root, with the socket pair to jaild on fd 3 and the cgroup.procs
// descriptors of its own cgroup on the fds after it:
//
//   jaild-zygote --support DIR --cgroup-fds N [--preload MODULE]...
//
// It confines itself first (a read-only view of the host without network, the few capabilities its
// children's steps need, a seccomp filter for its loop), never runs user code and never reads what a run
// executes: a request is a fixed-size record and descriptors (zygote_abi.h), and only the child, once it
// has entered the sandbox and dropped every privilege, reads the run's start.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/linux_compat.h"
#include "common/unique_fd.h"
#include "jaild/sandbox/caps.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/seccomp_policy.h"
#include "jaild/sandbox/zygote_abi.h"
#include "jaild/zygote/confine.h"
#include "jaild/zygote/interpreter.h"

namespace jaild::zygote {

namespace {

constexpr int kSocket = 3;

void log(const std::string& text) {
    std::fprintf(stderr, "jaild-zygote[%d]: %s\n", ::getpid(), text.c_str());
    std::fflush(stderr);
}

// One request as received: the record and its descriptors (all closed when it goes, but the report
// channel, which the loop keeps until the child ends).
struct Received {
    ZygoteRequest request;
    std::vector<unique_fd> fds;
};

// 0: jaild closed the socket. -1: a malformed request (logged; its descriptors closed). 1: a request.
int receive(Received& out) {
    iovec data{&out.request, sizeof out.request};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * ZygoteRequest::max_fds)];
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(kSocket, &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n == 0) return 0;
    if (n < 0) {
        log(std::string("recvmsg: ") + std::strerror(errno));
        return 0;
    }
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
            out.fds.emplace_back(fd);
        }
    }
    const ZygoteRequest& r = out.request;
    const bool valid = n == sizeof r && !(message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
                       r.magic == ZygoteRequest::expected_magic && r.rlimit_count <= 8 &&
                       r.cgroup_fd_count <= ZygoteRequest::max_cgroup_fds && r.has_result <= 1 &&
                       out.fds.size() == ZygoteRequest::fixed_fds + r.has_result + r.cgroup_fd_count;
    if (!valid) {
        log("a malformed request was refused");
        return -1;
    }
    return 1;
}

void reply(int err, pid_t pid) {
    const ZygoteReply answer{ZygoteReply::expected_magic, err, static_cast<std::int32_t>(pid)};
    while (::send(kSocket, &answer, sizeof answer, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

// Forking is only safe while we have one thread: a thread started by a preloaded module (a BLAS pool the
// environment did not keep to one thread) would hold locks the child could never take.
bool single_threaded() {
    DIR* dir = ::opendir("/proc/self/task");
    if (!dir) return false;
    int threads = 0;
    while (const dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.') ++threads;
    ::closedir(dir);
    return threads == 1;
}

// Our command line's text as the kernel shows it in /proc/<pid>/cmdline (main() records it).
char* g_args_begin = nullptr;
char* g_args_end = nullptr;

// What the run's process shows of itself: the program's name (`python3`) as its comm and its command line,
// as a cold run's would, instead of the zygote's (whose arguments name host paths). Only the name fits the
// zygote's command-line area for sure; a last byte other than NUL makes the kernel show the area up to its
// first NUL, as for a setproctitle()d process.
void present_as(const char* program) {
    const char* base = std::strrchr(program, '/');
    base = base ? base + 1 : program;
    ::prctl(PR_SET_NAME, base, 0, 0, 0);
    if (!g_args_begin || g_args_end - g_args_begin < 2) return;
    const std::size_t room = static_cast<std::size_t>(g_args_end - g_args_begin);
    std::memset(g_args_begin, 0, room);
    std::memcpy(g_args_begin, base, std::min(std::strlen(base), room - 2));
    g_args_end[-1] = '.';
}

// The sandbox's PID 1 acts as our uid (its effective one) until it has read the adoption, which jaild sends
// before our start message ends, and then holds only its own ids (docs/security.md, "The reaper's own uid"):
// until it does, our code could renice it. Waits, at most 2 s, until /proc/1/status shows its effective uid
// apart from ours.
void wait_reaper_own_ids() {
    const unsigned long self = ::getuid();
    for (int tries = 0; tries < 2000; ++tries) {
        char text[2048];
        ssize_t n = -1;
        if (const int fd = ::open("/proc/1/status", O_RDONLY | O_CLOEXEC); fd >= 0) {
            n = ::read(fd, text, sizeof text - 1);
            ::close(fd);
        }
        if (n <= 0) fail_step(Stage::start, n < 0 ? errno : EIO);
        text[n] = '\0';
        unsigned long real = 0, effective = 0;
        const char* uid = std::strstr(text, "\nUid:");
        if (!uid || std::sscanf(uid, "\nUid: %lu %lu", &real, &effective) != 2) fail_step(Stage::start, EIO);
        if (effective != self) return;
        const timespec pause{0, 1'000'000};
        ::nanosleep(&pause, nullptr);
    }
    fail_step(Stage::start, ETIMEDOUT);
}

// The child: into the sandbox, then the run. Reads nothing of the run before enter_sandbox has dropped
// every privilege.
[[noreturn]] void child(const Received& in, const Preloaded& interpreter, const void* empty_caps,
                        const seccomp::Filter& filter) {
    const ZygoteRequest& r = in.request;
    rlimits::Entry limits[8];
    for (std::uint32_t i = 0; i < r.rlimit_count; ++i)
        limits[i] = {r.rlimits[i].resource, r.rlimits[i].soft, r.rlimits[i].hard};
    int cgroup_fds[ZygoteRequest::max_cgroup_fds];
    const std::size_t first_cgroup = ZygoteRequest::fixed_fds + r.has_result;
    for (std::uint32_t i = 0; i < r.cgroup_fd_count; ++i) cgroup_fds[i] = in.fds[first_cgroup + i].get();
    int namespaces[namespace_count];
    for (std::size_t i = 0; i < namespace_count; ++i) namespaces[i] = in.fds[i].get();
    const std::size_t io = ZygoteRequest::first_stdio_fd;
    EnterSpec spec;
    spec.namespaces = namespaces;
    spec.stdin_fd = in.fds[io].get();
    spec.stdout_fd = in.fds[io + 1].get();
    spec.stderr_fd = in.fds[io + 2].get();
    spec.report_fd = in.fds[io + 3].get();
    spec.start_fd = in.fds[io + 4].get();
    spec.result_fd = r.has_result ? in.fds[io + 5].get() : -1;
    spec.cgroup_fds = cgroup_fds;
    spec.cgroup_fd_count = r.cgroup_fd_count;
    spec.rlimits = limits;
    spec.rlimit_count = r.rlimit_count;
    spec.uid = r.uid;
    spec.gid = r.gid;
    spec.last_cap = caps::last_cap();
    spec.empty_caps = empty_caps;
    spec.seccomp = filter.program();
    spec.signals = interpreter.signals.data();
    enter_sandbox(spec);

    // The sandbox's PID 1 adopts PID 2 (zygote_abi.h, AdoptMessage).
    if (::getpid() != 2) fail_step(Stage::start, ESRCH);
    static char message[warm_start_max_bytes + 1];
    std::size_t size = 0;
    for (ssize_t n; (n = ::pread(child_start_fd, message + size, sizeof message - size, size)) != 0; size += n) {
        if (n < 0 && errno != EINTR) fail_step(Stage::start, errno);
        if (n < 0) n = 0;
    }
    if (size > warm_start_max_bytes) fail_step(Stage::start, EMSGSIZE);
    static char* words[warm_start_max_bytes + 1];
    WarmStart start;
    if (!parse_warm_start(message, size, words, sizeof words / sizeof words[0], start)) fail_step(Stage::start, EINVAL);
    if (::chdir(start.cwd) != 0) fail_step(Stage::cwd, errno);
    wait_reaper_own_ids();
    ::close(child_report_fd);
    ::close(child_start_fd);
    present_as(start.command.argv[0]);
    run_program(start.command.argv, start.command.envp);
}

class Loop {
public:
    Loop(const Preloaded& interpreter, int own_pid_namespace)
        : interpreter_(interpreter),
          own_pid_namespace_(own_pid_namespace),
          empty_caps_(caps::empty_state()),
          filter_(seccomp::Filter::compile()) {}

    // Serves until jaild closes the socket, then until the runs it forked have ended and been reported: a run
    // left running when we exit is re-parented to the init of our PID namespace (pid_namespaces(7)), not to
    // its sandbox's reaper, and nobody would report its end.
    int run() {
        sigset_t chld;
        ::sigemptyset(&chld);
        ::sigaddset(&chld, SIGCHLD);
        ::sigprocmask(SIG_BLOCK, &chld, nullptr);
        const unique_fd children(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
        pollfd fds[2] = {{kSocket, POLLIN, 0}, {children.get(), POLLIN, 0}};
        for (;;) {
            if (fds[0].fd < 0 && reports_.empty()) return 0;
            if (::poll(fds, 2, -1) < 0 && errno != EINTR) return 1;
            if (fds[1].revents) reap(children.get());
            if (!fds[0].revents) continue;
            Received in;
            const int got = receive(in);
            if (got == 0) fds[0].fd = -1;  // poll ignores it from now on
            if (got > 0) fork_one(in);
        }
    }

private:
    void fork_one(Received& in) {
        if (!single_threaded()) {
            log("more than one thread: refusing to fork (the run starts cold)");
            reply(EAGAIN, -1);
            return;
        }
        // The child is born in the sandbox's PID namespace; we stay in ours.
        if (::setns(in.fds[1].get(), CLONE_NEWPID) != 0) {
            reply(errno, -1);
            return;
        }
        before_fork();
        const pid_t pid = ::fork();
        const int fork_errno = errno;
        if (pid == 0) child(in, interpreter_, empty_caps_, filter_);
        after_fork_in_parent();
        if (::setns(own_pid_namespace_, CLONE_NEWPID) != 0) {
            log(std::string("returning to our PID namespace failed: ") + std::strerror(errno));
            ::_exit(1);  // jaild restarts us; a child forked now would land in the wrong namespace
        }
        if (pid < 0) {
            reply(fork_errno, -1);
            return;
        }
        reports_[pid] = std::move(in.fds[ZygoteRequest::first_stdio_fd + 3]);
        reply(0, pid);
    }

    // Our children that ended: each one's wait status on its run's report channel (the sandbox's reaper
    // ends when it sees the child gone, and jaild then reads the channel to its end).
    void reap(int signals) {
        signalfd_siginfo info;
        while (::read(signals, &info, sizeof info) > 0) {
        }
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            const auto it = reports_.find(pid);
            if (it == reports_.end()) continue;
            const ChildReport record{ChildReport::exited, Stage::none, 0, 0, status};
            ::send(it->second.get(), &record, sizeof record, MSG_DONTWAIT | MSG_NOSIGNAL);
            reports_.erase(it);
        }
    }

    const Preloaded& interpreter_;
    const int own_pid_namespace_;
    const void* empty_caps_;
    const seccomp::Filter filter_;
    std::map<pid_t, unique_fd> reports_;
};

int serve(const std::string& support, int cgroup_fds, const std::vector<std::string>& preload) {
    // Into our own cgroup first, so that everything the preload allocates is charged there.
    for (int fd = kSocket + 1; fd < kSocket + 1 + cgroup_fds; ++fd) {
        if (::write(fd, "0", 1) != 1) {
            log(std::string("joining our cgroup: ") + std::strerror(errno));
            return 1;
        }
        ::close(fd);
    }
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return 1;
    std::string what;
    std::error_code ec = isolate_view(what);
    if (!ec) ec = keep_needed_capabilities(what);
    if (ec) {
        log(what + ": " + ec.message());
        return 1;
    }
    const unique_fd own_pid_namespace(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
    if (!own_pid_namespace) {
        log(std::string("/proc/self/ns/pid: ") + std::strerror(errno));
        return 1;
    }
    Preloaded interpreter;
    try {
        interpreter = start_interpreter(support, preload);
    } catch (const std::exception& e) {
        log(e.what());
        return 1;
    }
    for (const std::string& failure : interpreter.failed) log("preload: " + failure);
    if ((ec = load_loop_filter(what))) {
        log(what + ": " + ec.message());
        return 1;
    }
    ZygoteReady ready;
    ready.pid = ::getpid();
    interpreter.version.copy(ready.version, sizeof ready.version - 1);
    if (::send(kSocket, &ready, sizeof ready, MSG_NOSIGNAL) != sizeof ready) return 1;
    return Loop(interpreter, own_pid_namespace.get()).run();
}

}  // namespace

}  // namespace jaild::zygote

int main(int argc, char** argv) {
    jaild::zygote::g_args_begin = argv[0];
    jaild::zygote::g_args_end = argv[argc - 1] + std::strlen(argv[argc - 1]) + 1;
    CLI::App app{"jaild-zygote: warm Python for jaild (started by jaild only)"};
    std::string support;
    int cgroup_fds = 0;
    std::vector<std::string> preload;
    app.add_option("--support", support, "jaild's support directory (jaild_warm.py)")->required();
    app.add_option("--cgroup-fds", cgroup_fds, "cgroup.procs descriptors after fd 3")->check(CLI::Range(0, 6));
    app.add_option("--preload", preload, "a module to import before serving");
    CLI11_PARSE(app, argc, argv);
    if (::getuid() != 0 || ::fcntl(3, F_GETFD) < 0) {
        std::fprintf(stderr, "jaild-zygote is started by jaild, as root, with its socket on fd 3\n");
        return 2;
    }
    return jaild::zygote::serve(support, cgroup_fds, preload);
}
