// The command line jaild gives jaild-reaper, which starts the program (child_abi.h reads it back,
// reaper_main.cc). Parent side only: it allocates.
#pragma once

#include <string>
#include <vector>

namespace jaild {

// jaild-reaper's command line for a program: parse_reaper_command_line (child_abi.h) reads it back.
std::vector<std::string> reaper_command_line(const std::vector<std::string>& paths,
                                             const std::vector<std::string>& argv, const std::vector<std::string>& env);

}  // namespace jaild
