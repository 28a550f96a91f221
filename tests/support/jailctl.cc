#include "tests/support/jailctl.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/support/process.h"

namespace jaild::test {

namespace {

using Clock = std::chrono::steady_clock;

// The parent's ends of the pipes to a child's standard streams (-1: that stream is a file, or done).
struct Pipes {
    int in = -1, out = -1, err = -1;
};

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// Opens what becomes the child's streams into `spec` and returns the parent's ends.
Pipes open_streams(const JailctlCall& call, Launch& spec) {
    Pipes parent;
    int pipe_fds[2];
    if (!call.stdin_path.empty()) {
        spec.stdin_fd = ::open(call.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
    } else if (::pipe2(pipe_fds, O_CLOEXEC) == 0) {
        spec.stdin_fd = pipe_fds[0];
        parent.in = pipe_fds[1];
    }
    if (!call.stdout_path.empty()) {
        spec.stdout_fd = ::open(call.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    } else if (::pipe2(pipe_fds, O_CLOEXEC) == 0) {
        spec.stdout_fd = pipe_fds[1];
        parent.out = pipe_fds[0];
    }
    if (::pipe2(pipe_fds, O_CLOEXEC) == 0) {
        spec.stderr_fd = pipe_fds[1];
        parent.err = pipe_fds[0];
    }
    if (spec.stdin_fd < 0 || spec.stdout_fd < 0 || spec.stderr_fd < 0)
        throw std::runtime_error("cannot open jailctl's standard streams");
    return parent;
}

// Feeds `input` to the child and collects its output until both outputs close or `deadline` passes.
void exchange(Pipes& pipes, const std::string& input, Jailctl& result, Clock::time_point deadline) {
    std::size_t written = 0;
    if (input.empty()) close_fd(pipes.in);
    if (pipes.in >= 0) ::fcntl(pipes.in, F_SETFL, O_NONBLOCK);
    while ((pipes.out >= 0 || pipes.err >= 0) && Clock::now() < deadline) {
        pollfd fds[3] = {{pipes.out, POLLIN, 0}, {pipes.err, POLLIN, 0}, {pipes.in, POLLOUT, 0}};
        if (::poll(fds, 3, 100) < 0) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buffer[65536];
            const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0)
                (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
            else
                close_fd(i == 0 ? pipes.out : pipes.err);
        }
        if (pipes.in >= 0 && (fds[2].revents & (POLLOUT | POLLERR))) {
            const ssize_t n = ::write(pipes.in, input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (n < 0 || written == input.size()) close_fd(pipes.in);
        }
    }
    close_fd(pipes.in);
    close_fd(pipes.out);
    close_fd(pipes.err);
}

// Waits for the child until `deadline`, then kills it; fills the exit status and peak memory.
void reap(pid_t child, Jailctl& result, Clock::time_point deadline) {
    int status = 0;
    rusage usage{};
    const auto ended = [&] { return ::wait4(child, &status, WNOHANG, &usage) == child; };
    if (!wait_until(ended, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))) {
        result.timed_out = true;
        ::kill(child, SIGKILL);
        ::wait4(child, &status, 0, &usage);
    }
    if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    result.peak_kb = usage.ru_maxrss;
}

}  // namespace

Jailctl run_jailctl(const JailctlCall& call) {
    Launch spec{.argv = {call.program}, .uid = call.uid};
    spec.argv.insert(spec.argv.end(), call.args.begin(), call.args.end());
    if (!call.socket.empty()) spec.env.push_back("JAILD_SOCKET=" + call.socket);
    Pipes pipes = open_streams(call, spec);
    const pid_t child = launch(spec);
    // The child's ends: once closed here, the child alone holds them (EOF and SIGPIPE work both ways).
    for (const int fd : {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd}) ::close(fd);
    const auto deadline = Clock::now() + call.timeout;
    Jailctl result;
    exchange(pipes, call.input, result, deadline);
    reap(child, result, deadline);
    return result;
}

}  // namespace jaild::test
