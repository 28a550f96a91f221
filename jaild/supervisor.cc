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

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jaild.pb.h"
#include "jaild/job.h"
#include "jaild/program_start.h"

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
      packages_(config.packages),
      // The pool's last uid is kept for the host probe (jaild --check), which may run beside a live jaild.
      uids_(config.sandbox.uid_base, std::max<std::uint32_t>(1, config.sandbox.uid_count - 1)),
      instance_(std::random_device{}()) {
    if (config.sandbox.warm_sandboxes == 0 || !spawner_ || !spawner_->can_warm() || !cgroups_) return;
    // A warm sandbox is built with the default /tmp and /dev/shm size (a tmpfs's size is fixed when it is
    // mounted: a run asking for another starts cold) and the resource limits at their maxima (its start
    // can only lower them: the reaper runs unprivileged by then).
    v1::RunRequest request;
    request.add_argv("jaild-reaper");
    auto at_default = make_run_plan(request, config.limits_default, config.limits_max);
    auto at_max = make_run_plan(request, config.limits_max, config.limits_max);
    if (!std::holds_alternative<RunPlan>(at_default) || !std::holds_alternative<RunPlan>(at_max)) return;
    warm_plan_ = std::get<RunPlan>(std::move(at_default));
    const ResolvedLimits& max = std::get<RunPlan>(at_max).limits;
    ResolvedLimits& l = warm_plan_.limits;
    l.cpu_ms = max.cpu_ms;
    l.fsize_bytes = max.fsize_bytes;
    l.nofile = max.nofile;
    l.nproc = max.nproc;
    l.stack_bytes = std::max(l.stack_bytes, max.stack_bytes);
    warm_rlimits_ = rlimits::prepare({l.cpu_ms, l.fsize_bytes, l.nofile, l.nproc, l.stack_bytes});
    // Never more than half the uids (see make_warm()).
    warm_depth_ = std::min<std::uint32_t>(config.sandbox.warm_sandboxes, (config.sandbox.uid_count - 1) / 2);
    if (warm_depth_ > 0) warm_ = std::make_unique<WarmPool>(warm_depth_, [this] { return make_warm(); });
}

Supervisor::~Supervisor() { closer_.join(); }  // join() without stop(): every queued close runs first

void Supervisor::close_later(unique_fd fd) {
    if (fd) asio::post(closer_, [fd = std::move(fd)]() mutable { fd.reset(); });
}

std::shared_ptr<Lease> Supervisor::lease(std::uint64_t workspace_bytes, StartError& error) {
    if (shutting_down_) {
        error = {ErrorCode::unavailable, "jaild is shutting down"};
        return nullptr;
    }
    auto uid = uids_.acquire();
    if (!uid && warm_ && warm_->shed_one([this](unique_fd fd) { close_later(std::move(fd)); })) uid = uids_.acquire();
    if (!uid) {
        error = {ErrorCode::resource_exhausted, "no free sandbox uid; retry later"};
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
            error = {ErrorCode::internal, "creating the run's workspace failed: " + ec.message()};
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
        error = {ErrorCode::unavailable, "jaild is shutting down"};
        return nullptr;
    }
    if (jobs_.size() >= config_.server.max_jobs) {
        error = {ErrorCode::resource_exhausted,
                 fmt::format("all {} run slots are busy; retry later", config_.server.max_jobs)};
        return nullptr;
    }
    const std::string id = fmt::format("{:08x}-{}", instance_ & 0xffffffffu, ++next_job_);
    if (warm_) warm_->activity();
    const cgroup::JobLimits limits{plan.limits.memory_bytes, plan.limits.nproc, config_.sandbox.cpu_quota_percent};
    std::unique_ptr<cgroup::JobCgroup> group;
    Spawned spawned;
    std::optional<WarmSandbox> warm;
    if (!lease && warm_) {
        if (const std::string message = warm_start(plan); !message.empty() && (warm = warm_->take())) {
            if (start_warm(*warm, message, limits)) {
                lease = std::move(warm->lease);
                group = std::move(warm->cgroup);
                spawned = std::move(warm->spawned);
            } else {
                close_later(std::move(warm->spawned.mount_ns));  // its teardown off the loop
                WarmPool::discard(*warm);
                warm.reset();
            }
        }
    }
    if (!warm) {
        if (!lease && !(lease = this->lease(0, error))) return nullptr;
        if (!lease->workspace().empty() && plan.workspace_source.empty()) plan.workspace_source = lease->workspace();
        std::error_code ec;
        // Named with jaild's pid, so that another jaild's stale-cgroup sweep leaves it alone (cgroup.cc).
        group = cgroups_->create(fmt::format("{}-{}", ::getpid(), id), limits, ec);
        if (!group) {
            spdlog::error("job {}: creating its cgroup failed: {}", id, ec.message());
            error = {ErrorCode::internal, "creating the run's cgroup failed: " + ec.message()};
            return nullptr;
        }
        spawned = spawner_->spawn(plan, lease->uid(), group.get(), cgroups_->version() == "v2", ec);
        if (ec) {
            spdlog::error("job {}: clone failed: {}", id, ec.message());
            error = {ErrorCode::internal, "starting the sandbox failed: clone3: " + ec.message()};
            if (auto rc = group->remove()) spdlog::error("job {}: removing its cgroup: {}", id, rc.message());
            return nullptr;
        }
    }
    spdlog::info("job {}: request {} started as uid {}{}: {}", id, plan.request_id, lease->uid(),
                 warm ? " (warm sandbox " + warm->name + ")" : "", plan.argv.front());
    const std::uint32_t uid = lease->uid();
    auto job = std::make_shared<Job>(*this, executor_, std::move(plan), id, std::move(lease), uid, std::move(group),
                                     std::move(spawned));
    jobs_[id] = job;
    return job;
}

std::string Supervisor::warm_start(const RunPlan& plan) const {
    // What a warm sandbox has fixed: no files of the run's in its fresh /workspace, no session or request
    // workspace, no result channel, the default /tmp size, and limits its start can reach by lowering.
    if (!plan.files.empty() || !plan.workspace_source.empty() || !plan.tmp_source.empty() || plan.result_channel ||
        !plan.session_id.empty() || plan.limits.tmp_bytes != warm_plan_.limits.tmp_bytes ||
        !plan.packages.env.empty() || !plan.packages.wheelhouse.empty())
        return {};
    const ResolvedLimits& l = plan.limits;
    const rlimits::Table wanted = rlimits::prepare({l.cpu_ms, l.fsize_bytes, l.nofile, l.nproc, l.stack_bytes});
    for (std::size_t i = 0; i < wanted.size(); ++i) {
        if (wanted[i].resource != warm_rlimits_[i].resource || wanted[i].hard > warm_rlimits_[i].hard) return {};
    }
    return warm_start_message(wanted, plan.cwd, exec_candidates(plan), plan.argv, plan.env);
}

bool Supervisor::start_warm(WarmSandbox& sandbox, const std::string& message, const cgroup::JobLimits& limits) {
    if (const std::error_code ec = sandbox.cgroup->set_limits(limits)) {
        spdlog::warn("warm sandbox {}: its cgroup refused the run's limits ({}); the run starts cold", sandbox.name,
                     ec.message());
        return false;
    }
    // One message on the report channel, which has room for it (warm_start_max_bytes): never blocks.
    ssize_t sent;
    while ((sent = ::send(sandbox.spawned.report_r.get(), message.data(), message.size(),
                          MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 &&
           errno == EINTR) {
    }
    if (sent != static_cast<ssize_t>(message.size())) {
        // Its reaper is gone (killed from outside, or a setup step after the namespace record failed).
        spdlog::warn("warm sandbox {}: sending its start failed ({}); the run starts cold", sandbox.name,
                     sent < 0 ? std::strerror(errno) : "short send");
        return false;
    }
    return true;
}

std::optional<WarmSandbox> Supervisor::make_warm() {
    // Runs come first: a sandbox is made only while more uids than the pool's depth stay free after it, so
    // that a burst of runs never finds the last uids held by sandboxes still being made (lease() sheds the
    // ready ones).
    const std::uint32_t capacity = std::max<std::uint32_t>(1, config_.sandbox.uid_count - 1);
    if (capacity - std::min(capacity, uids_.in_use()) <= warm_depth_) return std::nullopt;
    const auto uid = uids_.acquire();
    if (!uid) return std::nullopt;
    WarmSandbox sandbox;
    sandbox.lease = std::make_shared<Lease>(*this, *uid, std::string());
    sandbox.name = fmt::format("{}-{:08x}-warm{}", ::getpid(), instance_ & 0xffffffffu, ++warm_made_);
    std::error_code ec;
    const cgroup::JobLimits limits{warm_plan_.limits.memory_bytes, warm_plan_.limits.nproc,
                                   config_.sandbox.cpu_quota_percent};
    sandbox.cgroup = cgroups_->create(sandbox.name, limits, ec);
    if (!sandbox.cgroup) {
        spdlog::error("warm sandbox {}: creating its cgroup failed: {}", sandbox.name, ec.message());
        return std::nullopt;
    }
    sandbox.spawned = spawner_->spawn(warm_plan_, *uid, sandbox.cgroup.get(), cgroups_->version() == "v2", ec, true);
    std::string failure;
    if (ec)
        failure = "clone: " + ec.message();
    else if (!sandbox.spawned.early_reports.empty())
        failure = spawner_->describe_failure(sandbox.spawned.early_reports.front(), sandbox.spawned);
    else if (!sandbox.spawned.mount_ns)
        failure = "its first process ended before it was set up";
    if (!failure.empty()) {
        spdlog::error("warm sandbox {}: {}", sandbox.name, failure);
        WarmPool::discard(sandbox);
        return std::nullopt;
    }
    return sandbox;
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

void Supervisor::job_ended(const std::string& job_id, unique_fd mount_ns) {
    close_later(std::move(mount_ns));
    jobs_.erase(job_id);
    if (warm_) warm_->activity();
}

std::string Supervisor::describe_failure(const ChildReport& report, const Spawned& spawned) const {
    return spawner_->describe_failure(report, spawned);
}

void Supervisor::shutdown() {
    shutting_down_ = true;
    sessions_.stop();
    std::vector<std::shared_ptr<Job>> running;  // a Job's destructor erases it from jobs_
    for (auto& [id, weak] : jobs_) {
        if (auto job = weak.lock()) running.push_back(std::move(job));
    }
    for (auto& job : running) job->kill(KillReason::shutdown);
    // After the kills: a taken warm sandbox's parent-death signal belongs to the pool's thread, which ends
    // here, and its run must already be marked as ended by the shutdown.
    warm_.reset();
}

}  // namespace jaild
