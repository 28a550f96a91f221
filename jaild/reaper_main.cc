// jaild-reaper: PID 1 of a sandbox while its program runs.
//
// The sandbox's first process is a clone of jaild (spawn.cc). It builds the sandbox down to the seccomp
// filter, then execs this small static binary, which starts the program and reaps. The exec comes before
// the program starts: until it, the first process is jaild's memory (shared, or copied copy-on-write), and
// a program already running could read jaild's command line in /proc/1/cmdline meanwhile. Its work: start
// the program (spawn_program), reap every process that ends in the namespace, and when the program ends,
// report its wait status to jaild on fd 4 and exit, which makes the kernel kill everything the program
// left behind (pid_namespaces(7)).
//
// Usage (by jaild only): reaper_command_line() in program_start.h, with the program's stdio on fds 0-2, its
// result channel (if any) on fd 3 and the report pipe on fd 4, and nothing else open.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jaild/child.h"
#include "jaild/program_start.h"

namespace {

void report(const jaild::ChildReport& record) {
    while (::write(jaild::child_report_fd, &record, sizeof record) < 0 && errno == EINTR) {
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (::getpid() != 1) return 2;  // not what jaild starts: refuse rather than reap a stranger
    // The strings' extent before parsing rewrites a pointer: the kernel lays them out one after another.
    char* const strings_begin = argc > 1 ? argv[1] : nullptr;
    char* const strings_end = argc > 1 ? argv[argc - 1] + std::strlen(argv[argc - 1]) + 1 : nullptr;
    jaild::ProgramStart start;
    if (!jaild::parse_reaper_command_line(argc, argv, start)) return 2;
    start.report_fd = jaild::child_report_fd;
    // jaild cleared close-on-exec on the report pipe to hand it to us; the program must not inherit it.
    if (::fcntl(jaild::child_report_fd, F_SETFD, FD_CLOEXEC) != 0) return 2;

    const pid_t program = jaild::spawn_program(start);
    if (program < 0) {
        report({jaild::ChildReport::failed, jaild::Stage::fork, errno, 0, 0});
        return 0;
    }
    // jaild sees EOF on the program's stdio and result channel only when the program's processes are gone.
    for (int fd = 0; fd <= jaild::child_result_fd; ++fd) ::close(fd);
    // /proc/1/cmdline (and ps) in the sandbox show plain "jaild-reaper", not the program's arguments and
    // environment: the rest is wiped, and a non-NUL last byte makes the kernel read it the way it reads a
    // setproctitle()d command line, up to the first NUL (get_mm_cmdline in fs/proc/base.c).
    std::memset(strings_begin, 0, static_cast<std::size_t>(strings_end - strings_begin));
    strings_end[-1] = '.';

    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, __WALL);
        if (pid == program) {
            report({jaild::ChildReport::exited, jaild::Stage::none, 0, 0, status});
            return 0;
        }
        if (pid < 0 && errno == ECHILD) return 0;
    }
}
