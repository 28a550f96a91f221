#include "jaild/program_start.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace jaild {

namespace {

struct Start {
    const ReaperCommand* program;
    int report_fd;
};

[[noreturn]] void exec_program(const Start& s) noexcept {
    int first_error = ENOENT;
    for (std::size_t i = 0; i < s.program->path_count; ++i) {
        ::execve(s.program->paths[i], s.program->argv, s.program->envp);
        // Like execvp: a missing candidate lets the next one try; any other error is the answer.
        if (errno != ENOENT && errno != ENOTDIR) {
            first_error = errno;
            break;
        }
    }
    const ChildReport report{ChildReport::failed, Stage::exec, first_error, 0, 0};
    // A pipe write of fewer than PIPE_BUF bytes is atomic: the parent reads whole records.
    while (::write(s.report_fd, &report, sizeof report) < 0 && errno == EINTR) {
    }
    ::_exit(127);
}

int start(void* spec) noexcept { exec_program(*static_cast<const Start*>(spec)); }

}  // namespace

pid_t spawn_program(const ReaperCommand& program, int report_fd) noexcept {
    Start spec{&program, report_fd};
    // We are suspended until the program execs, and its side touches only this stack.
    alignas(64) char stack[32 * 1024];
    return ::clone(start, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &spec);
}

std::vector<std::string> reaper_command_line(const std::vector<std::string>& paths,
                                             const std::vector<std::string>& argv,
                                             const std::vector<std::string>& env) {
    std::vector<std::string> out{"jaild-reaper", std::to_string(paths.size())};
    out.insert(out.end(), paths.begin(), paths.end());
    out.push_back(std::to_string(argv.size()));
    out.insert(out.end(), argv.begin(), argv.end());
    out.push_back("--");
    out.insert(out.end(), env.begin(), env.end());
    return out;
}

}  // namespace jaild
