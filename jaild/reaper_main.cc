// jaild-reaper: PID 1 of a sandbox while its program runs.
//
// The sandbox's first process is a clone of jaild (spawn.cc); it builds the sandbox, starts the program and
// then execs this small static binary so that it stops sharing jaild's memory copy-on-write. As a clone it
// would keep every page of jaild shared for the whole run, and every page jaild then writes would cost a
// copy and a TLB shootdown. Its work: reap every process that ends in the namespace, and when the program
// ends, report its wait status to jaild on fd 4 and exit, which makes the kernel kill everything the program
// left behind (pid_namespaces(7)).
//
// Usage (by jaild only): jaild-reaper PROGRAM_PID, with fd 4 the report pipe and nothing else open.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "jaild/child.h"

int main(int argc, char** argv) {
    if (argc != 2 || ::getpid() != 1) return 2;  // not what jaild starts: refuse rather than reap a stranger
    char* end = nullptr;
    const long program = std::strtol(argv[1], &end, 10);
    if (*end != '\0' || program <= 1) return 2;
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, __WALL);
        if (pid == program) {
            jaild::ChildReport report{jaild::ChildReport::exited, jaild::Stage::none, 0, 0, status};
            while (::write(jaild::child_report_fd, &report, sizeof report) < 0 && errno == EINTR) {
            }
            ::_exit(0);
        }
        if (pid < 0 && errno == ECHILD) ::_exit(0);
    }
}
