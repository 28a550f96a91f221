// The command line jaild gives jaild-reaper, which starts the program, and the start message of a warm
// sandbox, which carries the same words (child_abi.h reads both back, reaper_main.cc). Parent side only: it
// allocates.
#pragma once

#include <string>
#include <vector>

#include "jaild/sandbox/rlimits.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

// argv[0] without a slash is looked up in the sandbox's PATH (the plan's, or the default), as execvp would,
// by the sandbox itself (only it sees its filesystem); here only the candidate paths are built.
std::vector<std::string> exec_candidates(const RunPlan& plan);

// jaild-reaper's command line for a program: parse_reaper_command_line (child_abi.h) reads it back.
std::vector<std::string> reaper_command_line(const std::vector<std::string>& paths,
                                             const std::vector<std::string>& argv, const std::vector<std::string>& env);

// A warm sandbox's start message (parse_warm_start in child_abi.h reads it back). Empty when it would be
// larger than warm_start_max_bytes: that run starts cold.
std::string warm_start_message(const rlimits::Table& limits, const std::string& cwd,
                               const std::vector<std::string>& paths, const std::vector<std::string>& argv,
                               const std::vector<std::string>& env);

}  // namespace jaild
