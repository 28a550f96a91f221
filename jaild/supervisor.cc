#include "jaild/supervisor.h"

#include "jaild/live/live_service.h"

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

#include <cstring>
#include <filesystem>

#include "jaild.pb.h"
#include "jaild/job.h"
#include "jaild/plan_from_request.h"
#include "jaild/replies.h"
#include "jaild/sandbox/program_start.h"
#include "jaild/sandbox/reaper_settled.h"
#include "jaild/sandbox/uid_kill.h"

namespace jaild {

namespace asio = boost::asio;

namespace {

// How long a run for the zygote waits for its sandbox's reaper to settle its ids (reaper_settled.h): its first
// system calls after its exec, so only a stalled machine comes near it.
constexpr std::chrono::milliseconds kReaperSettles{2000};

}  // namespace

Lease::~Lease() { supervisor_.release(uid_, workspace_); }

Supervisor::Supervisor(asio::any_io_executor executor, const Config& config, std::unique_ptr<cgroup::Manager> cgroups,
                       std::unique_ptr<Spawner> spawner, LanguageRegistry languages)
    : executor_(std::move(executor)),
      config_(config),
      cgroups_(std::move(cgroups)),
      spawner_(std::move(spawner)),
      languages_(std::move(languages)),
      workspaces_(config.sandbox.run_dir + "/work"),
      sessions_(config.sessions, config.node.id, executor_),
      packages_(config.packages),
      uids_(config.sandbox.uid_base, pool_uid_count(config.sandbox.uid_count)),
      instance_(std::random_device{}()) {
    live_ = std::make_unique<live::LiveService>(*this);
    if (degraded() || config.sandbox.chroot || spawner_->remount_refused())
        isolation_ = isolation_of(!degraded(), config.sandbox.chroot, spawner_->remount_refused());
    sessions_.on_destroy([this](Session& session) { live_->session_ended(session.meta.id); });
    if (auto setup = warm_setup()) warm_ = std::make_unique<WarmPool>(std::move(*setup));
    start_zygotes();
}

void Supervisor::start_zygotes() {
    if (!config_.zygote.enabled || !spawner_ || !spawner_->can_warm()) return;
    const std::filesystem::path program = std::filesystem::path(spawner_->reaper_path()).parent_path() / "jaild-zygote";
    for (const Language& language : languages_.all()) {
        if (!language.zygote) continue;
        if (::access(program.c_str(), X_OK) != 0) {
            spdlog::warn("zygote {}: {} is missing; its runs start cold", language.name, program.string());
            return;
        }
        Zygote::Setup setup;
        setup.program = program.string();
        setup.language = language.name;
        setup.support_dir = config_.languages.support_dir;
        setup.preload = language.preload;
        std::map<std::string, std::string> env = default_run_env();
        for (const auto& [key, value] : language.env) env[key] = value;
        for (const auto& [key, value] : env) setup.env.push_back(key + "=" + value);
        setup.expected_version = language.version;
        setup.max_forks = config_.zygote.max_forks;
        setup.max_age = std::chrono::minutes(config_.zygote.max_minutes);
        setup.cgroups = cgroups_.get();
        setup.name_prefix = fmt::format("{}-{:08x}-zygote-{}", ::getpid(), instance_ & 0xffffffffu, language.name);
        zygotes_.push_back(std::make_unique<Zygote>(std::move(setup)));
    }
}

Zygote* Supervisor::zygote_for(const RunPlan& plan) {
    if (plan.zygote.empty()) return nullptr;
    for (const auto& zygote : zygotes_)
        if (zygote->language() == plan.zygote) return zygote->ready() && zygote->fits(plan) ? zygote.get() : nullptr;
    return nullptr;
}

bool Supervisor::start_in_zygote(Zygote& zygote, const RunPlan& plan, const std::string& id, std::uint32_t uid,
                                 cgroup::JobCgroup& group, Spawned& spawned, std::error_code& ec) {
    spawned = spawner_->spawn(plan, uid, &group, cgroups_->version() == "v2", ec, true, true);
    if (ec) return false;
    std::string why;
    if (!wait_reaper_settled(spawned, kReaperSettles)) {
        // The reaper failed or ended; the cold start below finds it gone, and the run reports why.
        why = "the sandbox's reaper did not settle its ids";
        spawned.program_ends = {};
        for (unique_fd& ns : spawned.namespaces) ns.reset();
    } else if (zygote.start(plan, group, uid, spawned, why)) {
        ++zygote_runs_;
        spdlog::info("job {}: in zygote {}", id, zygote.language());
        return true;
    }
    // Cold in the same sandbox: its reaper starts the program as a warm sandbox's does (warm_pool.h).
    spdlog::info("job {}: starts cold: {}", id, why);
    const ResolvedLimits& l = plan.limits;
    const std::string message =
        warm_start_message(rlimits::prepare({l.cpu_ms, l.fsize_bytes, l.nofile, l.nproc, l.stack_bytes}), plan.cwd,
                           exec_candidates(plan), plan.argv, plan.env);
    if (::send(spawned.report_r.get(), message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL) !=
        static_cast<ssize_t>(message.size()))
        spdlog::warn("job {}: sending the sandbox its start failed: {}", id, std::strerror(errno));
    return true;
}

std::optional<WarmPool::Setup> Supervisor::warm_setup() {
    if (config_.sandbox.warm_sandboxes == 0 || !spawner_ || !spawner_->can_warm() || !cgroups_) return std::nullopt;
    // Never more than half the pool's pairs (see spare_uid()).
    warm_depth_ = std::min<std::uint32_t>(config_.sandbox.warm_sandboxes, uids_.pairs() / 2);
    if (warm_depth_ == 0) return std::nullopt;
    // The default /tmp and /dev/shm size, the resource limits at their maxima (warm_pool.h).
    v1::RunRequest request;
    request.add_argv("jaild-reaper");
    auto at_default = make_run_plan(request, config_.limits_default, config_.limits_max);
    auto at_max = make_run_plan(request, config_.limits_max, config_.limits_max);
    if (!std::holds_alternative<RunPlan>(at_default) || !std::holds_alternative<RunPlan>(at_max)) return std::nullopt;
    WarmPool::Setup setup;
    setup.plan = std::get<RunPlan>(std::move(at_default));
    const ResolvedLimits& max = std::get<RunPlan>(at_max).limits;
    ResolvedLimits& l = setup.plan.limits;
    l.cpu_ms = max.cpu_ms;
    l.fsize_bytes = max.fsize_bytes;
    l.nofile = max.nofile;
    l.nproc = max.nproc;
    l.stack_bytes = std::max(l.stack_bytes, max.stack_bytes);
    setup.spawner = spawner_.get();
    setup.cgroups = cgroups_.get();
    setup.cpu_quota_percent = config_.sandbox.cpu_quota_percent;
    setup.depth = warm_depth_;
    setup.name_prefix = fmt::format("{}-{:08x}", ::getpid(), instance_ & 0xffffffffu);
    setup.spare_uid = [this](std::uint32_t& uid) { return spare_uid(uid); };
    setup.close_later = [this](unique_fd fd) { close_later(std::move(fd)); };
    return setup;
}

std::shared_ptr<Lease> Supervisor::spare_uid(std::uint32_t& uid) {
    // Runs come first: a sandbox is made only while more pairs than the pool's depth stay free after it, so
    // that a burst of runs never finds the last pairs held by sandboxes still being made (lease() sheds the
    // ready ones).
    const std::uint32_t capacity = uids_.pairs();
    if (capacity - std::min(capacity, uids_.pairs_in_use()) <= warm_depth_) return nullptr;
    const auto acquired = uids_.acquire();
    if (!acquired) return nullptr;
    uid = *acquired;
    return std::make_shared<Lease>(*this, uid, std::string());
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
    if (!uid && warm_ && warm_->shed_one()) uid = uids_.acquire();
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
    const cgroup::JobLimits limits{plan.limits.memory_bytes, plan.limits.nproc, config_.sandbox.cpu_quota_percent,
                                   !plan.live};
    // A warm sandbox when the run fits one (a run with a lease of its own has a workspace or a session:
    // never), else a cold one.
    std::unique_ptr<cgroup::JobCgroup> group;
    Spawned spawned;
    std::optional<WarmSandbox> warm = lease || !warm_ ? std::nullopt : warm_->start(plan, limits);
    if (warm) {
        lease = std::move(warm->lease);
        group = std::move(warm->cgroup);
        spawned = std::move(warm->spawned);
    } else if (!start_cold(plan, id, limits, lease, group, spawned, error)) {
        return nullptr;
    }
    spdlog::info("job {}: request {} of {} started as uid {}{}: {}", id, plan.request_id, plan.principal, lease->uid(),
                 warm ? " (warm sandbox " + warm->name + ")" : "", plan.argv.front());
    const std::uint32_t uid = lease->uid();
    auto job = std::make_shared<Job>(*this, executor_, std::move(plan), id, std::move(lease), uid, std::move(group),
                                     std::move(spawned));
    jobs_[id] = job;
    ++jobs_started_;
    return job;
}

bool Supervisor::start_cold(RunPlan& plan, const std::string& id, const cgroup::JobLimits& limits,
                            std::shared_ptr<Lease>& lease, std::unique_ptr<cgroup::JobCgroup>& group, Spawned& spawned,
                            StartError& error) {
    if (!lease && !(lease = this->lease(0, error))) return false;
    if (!lease->workspace().empty() && plan.workspace_source.empty()) plan.workspace_source = lease->workspace();
    std::error_code ec;
    // Named with jaild's pid, so that another jaild's stale-cgroup sweep leaves it alone (cgroup.cc).
    group = cgroups_->create(fmt::format("{}-{}", ::getpid(), id), limits, ec);
    if (!group) {
        spdlog::error("job {}: creating its cgroup failed: {}", id, ec.message());
        error = {ErrorCode::internal, "creating the run's cgroup failed: " + ec.message()};
        return false;
    }
    if (Zygote* zygote = zygote_for(plan))
        start_in_zygote(*zygote, plan, id, lease->uid(), *group, spawned, ec);
    else
        spawned = spawner_->spawn(plan, lease->uid(), group.get(), cgroups_->version() == "v2", ec);
    if (ec) {
        spdlog::error("job {}: clone failed: {}", id, ec.message());
        error = {ErrorCode::internal, "starting the sandbox failed: clone3: " + ec.message()};
        if (auto rc = group->remove()) spdlog::error("job {}: removing its cgroup: {}", id, rc.message());
        return false;
    }
    return true;
}

asio::awaitable<void> Supervisor::retire(std::unique_ptr<cgroup::JobCgroup> group, std::string id) {
    // The reaper is gone, and with it its namespace; the cgroup may still count tasks the kernel has not
    // finished tearing down, so rmdir is retried with a growing pause. The uid goes back to the pool (with
    // the job's lease) only once nothing can still run under it.
    if (!group) co_return;
    asio::steady_timer pause(executor_);
    cgroup::Teardown teardown(*group);
    while (!teardown.attempt()) {
        const int attempts = teardown.attempts();
        if (attempts == 20 || (attempts > 20 && attempts % 100 == 0))
            spdlog::warn("job {}: cgroup still busy after {} attempts: {}", id, attempts, teardown.error().message());
        pause.expires_after(teardown.next_pause());
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void Supervisor::job_ended(const std::string& job_id, unique_fd mount_ns, ChrootRoot root) {
    close_later(std::move(mount_ns));
    if (root) asio::post(closer_, [root = std::move(root)]() mutable { root = ChrootRoot(); });
    jobs_finished_ += jobs_.erase(job_id);
    if (warm_) warm_->activity();
}

void Supervisor::end_processes(std::uint32_t uid) {
    if (!config_.sandbox.chroot) return;
    if (const std::error_code ec = kill_uid(uid, reaper_uid_of(uid)))
        spdlog::error("killing the processes of uid {}: {}", uid, ec.message());
}

std::string Supervisor::describe_failure(const ChildReport& report, const Spawned& spawned) const {
    return spawner_->describe_failure(report, spawned);
}

void Supervisor::shutdown() {
    shutting_down_ = true;
    sessions_.stop();
    live_->stop_all();
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
