// Starting the program from the sandbox's first process when it reaps in place (no jaild-reaper), and the
// command line jaild gives jaild-reaper, which starts it otherwise (child_abi.h, reaper_main.cc).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "jaild/child_abi.h"

namespace jaild {

// Clones the program's process vfork-style (it shares our memory until its execve, as posix_spawn does: no
// copy of the page tables) and returns its pid once it has exec'd or failed; -1 with errno if the clone
// failed. A program that cannot be exec'd writes its ChildReport (Stage::exec) on report_fd (close-on-exec)
// and exits with 127. Async-signal-safe.
pid_t spawn_program(const ReaperCommand& program, int report_fd) noexcept;

// jaild-reaper's command line for a program (parse_reaper_command_line reads it back).
std::vector<std::string> reaper_command_line(const std::vector<std::string>& paths,
                                             const std::vector<std::string>& argv, const std::vector<std::string>& env);

}  // namespace jaild
