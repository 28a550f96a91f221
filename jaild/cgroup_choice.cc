#include "jaild/cgroup_choice.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <system_error>

namespace jaild {

namespace {

// Detection can succeed where no job cgroup can be made (an LXC container whose cgroup tree is read-only):
// one is made and removed, as a run's would be. Its name starts with jaild's pid, so another jaild's
// stale-cgroup sweep leaves it alone (cgroup.cc).
std::string try_job_cgroup(cgroup::Manager& cgroups) {
    std::error_code ec;
    std::unique_ptr<cgroup::JobCgroup> job =
        cgroups.create(std::to_string(::getpid()) + "-degraded-check", {64ULL << 20, 16, 0}, ec);
    if (!job) return "creating a job cgroup: " + ec.message();
    if (const std::error_code removed = cgroup::remove_within(*job, std::chrono::seconds(1)))
        return "removing a job cgroup: " + removed.message();
    return {};
}

}  // namespace

std::unique_ptr<cgroup::Manager> choose_cgroups(Config& config, std::string& setup_error) {
    std::unique_ptr<cgroup::Manager> cgroups;
    std::string problem;
    try {
        cgroups = cgroup::detect(config.sandbox.cgroup_root);
        if (const int stale = cgroups->cleanup_stale())
            spdlog::warn("removed {} job cgroup(s) left by a previous jaild", stale);
        if (config.sandbox.degraded) problem = try_job_cgroup(*cgroups);
    } catch (const std::exception& e) {
        problem = e.what();
    }
    if (problem.empty()) return cgroups;
    if (!config.sandbox.degraded) {
        setup_error = problem;
        return nullptr;
    }
    spdlog::warn(
        "degraded mode ([sandbox] degraded = true): no usable cgroups ({}); memory is limited by RLIMIT_AS, "
        "processes by RLIMIT_NPROC, CPU by RLIMIT_CPU, wall time by killing each run's PID 1; peak memory is "
        "unknown; no warm sandboxes or zygotes",
        problem);
    config.sandbox.warm_sandboxes = 0;
    config.zygote.enabled = false;
    return cgroup::make_none();
}

bool is_degraded(const cgroup::Manager* cgroups) { return cgroups && cgroups->version() == "none"; }

}  // namespace jaild
