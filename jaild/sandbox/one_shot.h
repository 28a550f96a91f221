// One sandbox run on jaild's own thread, waited for to its end: the start-up probe's `true` and the language
// version commands. It uses the same Spawner as every run; everything it holds (cgroup, pipes, the clone) is
// gone when it returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

class Spawner;

struct OneShot {
    std::string cgroup_detail;  // "created with memory and pids limits" or why not (the run goes on without)
    std::string error;          // a parent-side failure: "clone3: ...", "timed out"
    std::vector<ChildReport> reports;
    std::string failure;   // the first failed report in words ("mounts: bind /usr ...: ..."), if any
    std::string out, err;  // at most 64 KiB each
    bool exited_zero() const;
};

OneShot run_one_shot(const Spawner& spawner, cgroup::Manager* cgroups, const RunPlan& plan, std::uint32_t uid,
                     const std::string& cgroup_name, int timeout_ms);

}  // namespace jaild
