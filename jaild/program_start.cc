#include "jaild/program_start.h"

namespace jaild {

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
