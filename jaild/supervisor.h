// What jaild's runs share: the config, the uid pool, the cgroup manager, the spawner, the warm sandboxes and
// the set of running jobs (for shutdown). Lives on jaild's event loop thread; nothing here is called from
// elsewhere but spare_uid() (the warm pool's thread, when it makes a sandbox: the thread-safe uid pool only)
// and Lease's destructor of a sandbox that thread discards (the uid pool only).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "jaild/cgroup_choice.h"
#include "jaild/error_code.h"
#include "jaild/job_owner.h"
#include "jaild/languages.h"
#include "jaild/packages.h"
#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/spawn.h"
#include "jaild/sandbox/uid_pool.h"
#include "jaild/sandbox/warm_pool.h"
#include "jaild/sandbox/workspace.h"
#include "jaild/sandbox/zygote.h"
#include "jaild/sessions.h"

namespace jaild {

namespace live {
class LiveService;
}

class Job;
class Supervisor;

// A sandbox's pair of uids held for every step of one request (its programs' uid(), their PID 1's
// reaper_uid_of(uid()): uid_pool.h), with the request's host workspace when its steps share one. Jobs hold it; it goes
// back when the last holder lets go, which is after every job that used it has retired (no process of it left, its
// cgroup removed).
class Lease {
public:
    Lease(Supervisor& supervisor, std::uint32_t uid, std::string workspace)
        : supervisor_(supervisor), uid_(uid), workspace_(std::move(workspace)) {}
    Lease(const Lease&) = delete;
    ~Lease();
    std::uint32_t uid() const { return uid_; }
    const std::string& workspace() const { return workspace_; }

private:
    Supervisor& supervisor_;
    std::uint32_t uid_;
    std::string workspace_;
};

struct StartError {
    ErrorCode code = ErrorCode::none;
    std::string message;
};

class Supervisor : public JobOwner {
public:
    Supervisor(boost::asio::any_io_executor executor, const Config& config, std::unique_ptr<cgroup::Manager> cgroups,
               std::unique_ptr<Spawner> spawner, LanguageRegistry languages = {});
    ~Supervisor();  // after every close_later() is done

    // A uid for the steps of one request, and a host workspace of `workspace_bytes` when not 0. On failure
    // returns null and fills `error`.
    std::shared_ptr<Lease> lease(std::uint64_t workspace_bytes, StartError& error);

    // Takes a cgroup (and a uid unless `lease` is given) and clones the sandbox. On failure returns null and
    // fills `error`; nothing new is held.
    std::shared_ptr<Job> start(RunPlan plan, StartError& error, std::shared_ptr<Lease> lease = nullptr);

    // JobOwner: a Job's end (job.h).
    boost::asio::awaitable<void> retire(std::unique_ptr<cgroup::JobCgroup> cgroup, std::string job_id) override;
    void job_ended(const std::string& job_id, unique_fd mount_ns, ChrootRoot root) override;
    void end_processes(std::uint32_t uid) override;
    const v1::Isolation* isolation() const override { return isolation_ ? &*isolation_ : nullptr; }
    std::string describe_failure(const ChildReport& report, const Spawned& spawned) const override;
    // Lease's destructor.
    void release(std::uint32_t uid, const std::string& workspace);
    // Closes `fd` on a helper thread: the last reference to a finished run's mount namespace (Spawned::mount_ns)
    // tears it down, which takes a while and must not hold the loop.
    void close_later(unique_fd fd);

    // SIGTERM: kills every running job; they finish, clean up and report through their connections. The
    // warm sandboxes are discarded before it returns.
    void shutdown();
    bool shutting_down() const { return shutting_down_; }
    std::size_t active() const { return jobs_.size(); }
    // Jobs started and finished since jaild started, and warm sandboxes ready now (StatsRequest).
    std::uint64_t jobs_started() const { return jobs_started_; }
    std::uint64_t jobs_finished() const { return jobs_finished_; }
    std::size_t warm_ready() const { return warm_ ? warm_->ready_count() : 0; }
    // Runs started in a zygote (zygote.h), and each zygote's counters.
    std::uint64_t zygote_runs() const { return zygote_runs_; }
    const std::vector<std::unique_ptr<Zygote>>& zygotes() const { return zygotes_; }
    // Open client connections; shutdown waits for them so each client gets its last frame.
    std::size_t connections() const { return connections_; }
    void connection_opened() { ++connections_; }
    void connection_closed() { --connections_; }

    const Config& config() const { return config_; }
    const Spawner& spawner() const { return *spawner_; }
    const LanguageRegistry& languages() const { return languages_; }
    SessionStore& sessions() { return sessions_; }
    PackageStore& packages() { return packages_; }
    live::LiveService& live() { return *live_; }
    cgroup::Manager* cgroups() const { return cgroups_.get(); }
    // Degraded mode: no cgroups, the limits are rlimits (cgroup_choice.h).
    bool degraded() const { return is_degraded(cgroups_.get()); }
    UidPool& uids() { return uids_; }
    // Groups whose members may connect: sandbox.allowed_gids plus the socket's group (set by the server).
    const std::vector<std::uint32_t>& allowed_gids() const { return allowed_gids_; }
    void set_allowed_gids(std::vector<std::uint32_t> gids) { allowed_gids_ = std::move(gids); }
    boost::asio::any_io_executor executor() const { return executor_; }

private:
    boost::asio::any_io_executor executor_;
    const Config& config_;
    std::unique_ptr<cgroup::Manager> cgroups_;
    std::unique_ptr<Spawner> spawner_;
    std::optional<v1::Isolation> isolation_;  // isolation()
    LanguageRegistry languages_;
    WorkspaceArea workspaces_;
    SessionStore sessions_;
    PackageStore packages_;
    UidPool uids_;
    std::map<std::string, std::weak_ptr<Job>> jobs_;
    std::uint64_t next_job_ = 0;
    std::uint64_t jobs_started_ = 0;
    std::uint64_t jobs_finished_ = 0;
    std::uint64_t instance_;  // random per jaild start, so job ids never repeat across restarts
    bool shutting_down_ = false;
    std::size_t connections_ = 0;
    std::vector<std::uint32_t> allowed_gids_;
    boost::asio::thread_pool closer_{1};

    // A cold start: a cgroup of its own, and a clone. False (with `error` filled, nothing held) on failure.
    bool start_cold(RunPlan& plan, const std::string& id, const cgroup::JobLimits& limits,
                    std::shared_ptr<Lease>& lease, std::unique_ptr<cgroup::JobCgroup>& group, Spawned& spawned,
                    StartError& error);
    // The warm pool's setup (warm_pool.h), or nothing when this jaild keeps no warm sandboxes.
    std::optional<WarmPool::Setup> warm_setup();
    // A pair of uids for one more warm sandbox, while more pairs than the pool's depth stay free after it.
    std::shared_ptr<Lease> spare_uid(std::uint32_t& uid);
    std::uint32_t warm_depth_ = 0;
    // The warm interpreters of the languages with `zygote = true` (zygote.h), unless zygote.enabled is off.
    void start_zygotes();
    Zygote* zygote_for(const RunPlan& plan);
    // A run the zygote may take: its sandbox made in warm mode, then the program started by the zygote or,
    // when it cannot, cold in that same sandbox. False (ec set) when the sandbox could not be made.
    bool start_in_zygote(Zygote& zygote, const RunPlan& plan, const std::string& id, std::uint32_t uid,
                         cgroup::JobCgroup& group, Spawned& spawned, std::error_code& ec);
    std::vector<std::unique_ptr<Zygote>> zygotes_;
    std::uint64_t zygote_runs_ = 0;
    std::unique_ptr<live::LiveService> live_;  // live sessions' sandboxes (jaild/live/)
    std::unique_ptr<WarmPool> warm_;           // last: its thread stops before the rest goes
};

}  // namespace jaild
