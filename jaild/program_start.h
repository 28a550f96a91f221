// Starting the program, shared by the sandbox's first process (child.cc, when it reaps in place) and by
// jaild-reaper (reaper_main.cc). Async-signal-safe: raw system calls on fixed buffers, nothing else.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace jaild {

struct ProgramStart {
    const char* const* paths = nullptr;  // candidates for argv[0], tried in order as execvp does
    std::size_t path_count = 0;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    int report_fd = -1;  // close-on-exec; a failed exec writes its ChildReport (Stage::exec) there
};

// Clones the program's process vfork-style (it shares our memory until its execve, as posix_spawn does: no
// copy of the page tables) and returns its pid once it has exec'd or failed; -1 with errno if the clone
// failed. A program that cannot be exec'd reports Stage::exec and exits with 127.
pid_t spawn_program(const ProgramStart& start) noexcept;

// jaild-reaper's command line, which carries the program's start (the reaper has no environment of its own):
//   jaild-reaper N PATH_1 … PATH_N ARGC ARG_1 … ARG_ARGC -- ENV_1 … ENV_M
inline std::vector<std::string> reaper_command_line(const std::vector<std::string>& paths,
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

// The reaper's side: points `out` into argv (null-terminating the program's argv in place, where "--" was).
// False when argv is not such a command line.
bool parse_reaper_command_line(int argc, char** argv, ProgramStart& out) noexcept;

}  // namespace jaild
