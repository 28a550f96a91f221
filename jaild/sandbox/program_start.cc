#include "jaild/sandbox/program_start.h"

#include <algorithm>
#include <cstring>

#include "jaild/sandbox/child_abi.h"

namespace jaild {

std::vector<std::string> exec_candidates(const RunPlan& plan) {
    const std::string& program = plan.argv.front();
    if (program.find('/') != std::string::npos) return {program};
    std::string path = sandbox_path_env;
    for (const std::string& entry : plan.env) {
        if (entry.rfind("PATH=", 0) == 0) path = entry.substr(5);
    }
    std::vector<std::string> candidates;
    std::size_t start = 0;
    while (start <= path.size()) {
        const std::size_t end = std::min(path.find(':', start), path.size());
        const std::string dir = path.substr(start, end - start);
        candidates.push_back((dir.empty() ? "." : dir) + "/" + program);
        start = end + 1;
    }
    return candidates;
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

std::string warm_start_message(const rlimits::Table& limits, const std::string& cwd,
                               const std::vector<std::string>& paths, const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) {
    WarmStartHeader header;
    static_assert(rlimits::table_size <= sizeof header.rlimits / sizeof header.rlimits[0]);
    for (const rlimits::Entry& entry : limits) {
        header.rlimits[header.rlimit_count++] = {entry.resource, 0, entry.soft, entry.hard};
    }
    std::vector<std::string> words = reaper_command_line(paths, argv, env);
    words.front() = cwd;  // in the place of the reaper's own name
    std::size_t text = 0;
    for (const std::string& word : words) text += word.size() + 1;
    if (sizeof header + text > warm_start_max_bytes) return {};
    header.word_bytes = text;
    std::string message(reinterpret_cast<const char*>(&header), sizeof header);
    message.reserve(sizeof header + text);
    for (const std::string& word : words) message.append(word.c_str(), word.size() + 1);
    return message;
}

}  // namespace jaild
