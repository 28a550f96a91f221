#include "jaild/program_start.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jaild/child.h"

namespace jaild {

namespace {

[[noreturn]] void exec_program(const ProgramStart& s) noexcept {
    int first_error = ENOENT;
    for (std::size_t i = 0; i < s.path_count; ++i) {
        ::execve(s.paths[i], s.argv, s.envp);
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

int start(void* spec) noexcept { exec_program(*static_cast<const ProgramStart*>(spec)); }

// A count: decimal digits only, no sign, no leading zero, at most `limit`.
bool parse_count(const char* text, long limit, long& out) noexcept {
    if (text[0] < '0' || text[0] > '9' || (text[0] == '0' && text[1] != '\0')) return false;
    long value = 0;
    for (const char* p = text; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') return false;
        value = value * 10 + (*p - '0');
        if (value > limit) return false;
    }
    out = value;
    return true;
}

}  // namespace

bool parse_reaper_command_line(int argc, char** argv, ProgramStart& out) noexcept {
    long paths = 0;
    long args = 0;
    if (argc < 2 || !parse_count(argv[1], argc - 2, paths) || paths == 0) return false;
    const long args_at = 2 + paths;
    if (args_at >= argc || !parse_count(argv[args_at], argc - args_at - 1, args) || args == 0) return false;
    const long separator = args_at + 1 + args;
    if (separator >= argc || std::strcmp(argv[separator], "--") != 0) return false;
    out.paths = argv + 2;
    out.path_count = static_cast<std::size_t>(paths);
    out.argv = argv + args_at + 1;
    argv[separator] = nullptr;
    out.envp = argv + separator + 1;
    return true;
}

pid_t spawn_program(const ProgramStart& s) noexcept {
    // We are suspended until the program execs, and its side touches only this stack.
    alignas(64) char stack[32 * 1024];
    return ::clone(start, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ProgramStart*>(&s));
}

}  // namespace jaild
