#include "jaild/supervisor.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include <unistd.h>

#include "jaild.pb.h"
#include "jaild/job.h"

namespace jaild {

namespace asio = boost::asio;

Lease::~Lease() { supervisor_.release(uid_, workspace_); }

Supervisor::Supervisor(asio::any_io_executor executor, const Config& config, std::unique_ptr<cgroup::Manager> cgroups,
                       std::unique_ptr<Spawner> spawner, LanguageRegistry languages)
    : executor_(std::move(executor)),
      config_(config),
      cgroups_(std::move(cgroups)),
      spawner_(std::move(spawner)),
      languages_(std::move(languages)),
      workspaces_(config.sandbox.run_dir + "/work"),
      sessions_(config.sessions, executor_),
      // The pool's last uid is kept for the host probe (jaild --check), which may run beside a live jaild.
      uids_(config.sandbox.uid_base, std::max<std::uint32_t>(1, config.sandbox.uid_count - 1)),
      instance_(std::random_device{}()) {}

Supervisor::~Supervisor() { closer_.join(); }  // join() without stop(): every queued close runs first

void Supervisor::close_later(unique_fd fd) {
    if (fd) asio::post(closer_, [fd = std::move(fd)]() mutable { fd.reset(); });
}

std::shared_ptr<Lease> Supervisor::lease(std::uint64_t workspace_bytes, StartError& error) {
    if (shutting_down_) {
        error = {v1::ERROR_CODE_UNAVAILABLE, "jaild is shutting down"};
        return nullptr;
    }
    const auto uid = uids_.acquire();
    if (!uid) {
        error = {v1::ERROR_CODE_RESOURCE_EXHAUSTED, "no free sandbox uid; retry later"};
        return nullptr;
    }
    std::string workspace;
    if (workspace_bytes > 0) {
        std::error_code ec;
        workspace = workspaces_.create(fmt::format("{:08x}-w{}", instance_ & 0xffffffffu, ++next_job_), *uid,
                                       workspace_bytes, ec);
        if (ec) {
            uids_.release(*uid);
            spdlog::error("creating a workspace failed: {}", ec.message());
            error = {v1::ERROR_CODE_INTERNAL, "creating the run's workspace failed: " + ec.message()};
            return nullptr;
        }
    }
    return std::make_shared<Lease>(*this, *uid, std::move(workspace));
}

void Supervisor::release(std::uint32_t uid, const std::string& workspace) {
    if (!workspace.empty()) workspaces_.remove(workspace);
    uids_.release(uid);
}

std::shared_ptr<Job> Supervisor::start(RunPlan plan, StartError& error, std::shared_ptr<Lease> lease) {
    if (shutting_down_) {
        error = {v1::ERROR_CODE_UNAVAILABLE, "jaild is shutting down"};
        return nullptr;
    }
    if (jobs_.size() >= config_.server.max_jobs) {
        error = {v1::ERROR_CODE_RESOURCE_EXHAUSTED,
                 fmt::format("all {} run slots are busy; retry later", config_.server.max_jobs)};
        return nullptr;
    }
    if (!lease && !(lease = this->lease(0, error))) return nullptr;
    const std::uint32_t uid = lease->uid();
    if (!lease->workspace().empty() && plan.workspace_source.empty()) plan.workspace_source = lease->workspace();
    const std::string id = fmt::format("{:08x}-{}", instance_ & 0xffffffffu, ++next_job_);
    std::error_code ec;
    const cgroup::JobLimits limits{plan.limits.memory_bytes, plan.limits.nproc, config_.sandbox.cpu_quota_percent};
    // Named with jaild's pid, so that another jaild's stale-cgroup sweep leaves it alone (cgroup.cc).
    std::unique_ptr<cgroup::JobCgroup> group = cgroups_->create(fmt::format("{}-{}", ::getpid(), id), limits, ec);
    if (!group) {
        spdlog::error("job {}: creating its cgroup failed: {}", id, ec.message());
        error = {v1::ERROR_CODE_INTERNAL, "creating the run's cgroup failed: " + ec.message()};
        return nullptr;
    }
    Spawned spawned = spawner_->spawn(plan, uid, group.get(), cgroups_->version() == "v2", ec);
    if (ec) {
        spdlog::error("job {}: clone failed: {}", id, ec.message());
        error = {v1::ERROR_CODE_INTERNAL, "starting the sandbox failed: clone3: " + ec.message()};
        if (auto rc = group->remove()) spdlog::error("job {}: removing its cgroup: {}", id, rc.message());
        return nullptr;
    }
    spdlog::info("job {}: request {} started as uid {}: {}", id, plan.request_id, uid, plan.argv.front());
    auto job =
        std::make_shared<Job>(*this, std::move(plan), id, std::move(lease), std::move(group), std::move(spawned));
    jobs_[id] = job;
    return job;
}

asio::awaitable<void> Supervisor::retire(std::unique_ptr<cgroup::JobCgroup> group, std::string id) {
    // The reaper is gone, and with it its namespace; the cgroup may still count tasks the kernel has not
    // finished tearing down, so rmdir is retried with a growing pause. The uid goes back to the pool (with
    // the job's lease) only once nothing can still run under it.
    asio::steady_timer pause(executor_);
    auto delay = std::chrono::milliseconds(1);
    for (int attempt = 0; group; ++attempt) {
        if (!group->empty()) group->kill_all();
        const std::error_code ec = group->remove();
        if (!ec) break;
        if (attempt == 20 || (attempt > 20 && attempt % 100 == 0))
            spdlog::warn("job {}: cgroup still busy after {} attempts: {}", id, attempt, ec.message());
        pause.expires_after(delay);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        delay = std::min(delay * 2, std::chrono::milliseconds(1000));
    }
}

void Supervisor::shutdown() {
    shutting_down_ = true;
    sessions_.stop();
    std::vector<std::shared_ptr<Job>> running;  // a Job's destructor erases it from jobs_
    for (auto& [id, weak] : jobs_) {
        if (auto job = weak.lock()) running.push_back(std::move(job));
    }
    for (auto& job : running) job->kill(KillReason::shutdown);
}

}  // namespace jaild
