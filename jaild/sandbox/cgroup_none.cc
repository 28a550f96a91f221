// The cgroup manager of degraded mode (cgroup.h, make_none): jobs without any cgroup.
#include <memory>

#include "jaild/sandbox/cgroup.h"

namespace jaild::cgroup {

namespace {

class NoJob final : public JobCgroup {
public:
    const AttachFds& attach() const override { return fds_; }
    std::error_code set_limits(const JobLimits&) override { return {}; }
    // Nothing to reach the processes by: the job's owner kills its PID 1, and the namespace dies with it.
    std::error_code kill_all() override { return {}; }
    JobStats stats() const override {
        JobStats stats;
        stats.measured = false;
        return stats;
    }
    bool empty() const override { return true; }
    std::error_code remove() override { return {}; }

private:
    AttachFds fds_;
};

class NoCgroups final : public Manager {
public:
    std::string_view version() const override { return "none"; }
    std::unique_ptr<JobCgroup> create(std::string_view, const JobLimits&, std::error_code& ec) override {
        ec.clear();
        return std::make_unique<NoJob>();
    }
    int cleanup_stale() override { return 0; }
    std::vector<std::string> list_jobs() const override { return {}; }
    std::vector<std::string> describe() const override {
        return {"none: degraded mode, limits by rlimits ([sandbox] degraded = true)"};
    }
    bool has_cpu_controller() const override { return false; }
};

}  // namespace

std::unique_ptr<Manager> make_none() { return std::make_unique<NoCgroups>(); }

}  // namespace jaild::cgroup
