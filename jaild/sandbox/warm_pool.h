// Sandboxes prepared ahead of the runs that can use them ("warm"). Building a sandbox — uid, cgroup,
// namespaces, the run's mounts, pivot_root, credentials, seccomp, the exec of jaild-reaper — is most of a
// short run's latency (bench/README.md, warm sandboxes), and none of it depends on what the run executes.
// The pool owns the warm path: a helper thread keeps `depth` sandboxes whose jaild-reaper waits for its
// start message (child_abi.h); start() decides whether a run fits one, takes one, writes the run's cgroup
// limits and sends the message (argv, environment, working directory, resource limits). Each sandbox serves
// exactly one run, like a cold one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/rlimits.h"
#include "jaild/sandbox/run_plan.h"
#include "jaild/sandbox/spawn.h"

namespace jaild {

class Lease;  // the service's holder of a uid (supervisor.h), opaque here

struct WarmSandbox {
    std::shared_ptr<Lease> lease;  // its uid
    std::unique_ptr<cgroup::JobCgroup> cgroup;
    Spawned spawned;
    std::string name;  // its cgroup's, for the log
};

class WarmPool {
public:
    struct Setup {
        const Spawner* spawner = nullptr;
        cgroup::Manager* cgroups = nullptr;
        // What every warm sandbox is built from: the default /tmp size (a tmpfs's size is fixed when it is
        // mounted) and the resource limits at their maxima (a start can only lower them: the reaper runs
        // unprivileged by then).
        RunPlan plan;
        std::uint32_t cpu_quota_percent = 0;
        std::size_t depth = 0;
        std::string name_prefix;  // of the sandboxes' cgroups: "<jaild's pid>-<instance>"
        // A uid for one more sandbox, and what holds it (its lease), or null when the runs need every uid
        // left. The pool's thread.
        std::function<std::shared_ptr<Lease>(std::uint32_t& uid)> spare_uid;
        // Closes a mount namespace off the caller's thread (its teardown is slow).
        std::function<void(unique_fd)> close_later;
    };

    // Starts the thread, which keeps `setup.depth` sandboxes ready.
    explicit WarmPool(Setup setup);
    // Stops the thread and discards every sandbox not taken: when it returns, their processes are reaped,
    // their cgroups removed and their uids back in the pool.
    ~WarmPool();
    WarmPool(const WarmPool&) = delete;

    // A ready sandbox started with `plan`: its cgroup given `limits` and its start sent. Nothing when the
    // plan does not fit a warm sandbox (files, a session or request workspace, a result channel, another
    // /tmp size, limits above the sandbox's), when none is ready, or when the one taken refused the start
    // (it is then discarded, logged): the run starts cold.
    std::optional<WarmSandbox> start(const RunPlan& plan, const cgroup::JobLimits& limits);
    // The start message of `plan` for a warm sandbox, or "" when the plan needs a cold one.
    std::string start_message(const RunPlan& plan) const;
    // A run started or ended. The pool refills up to its depth once no run has started or ended for
    // idle_before_fill: building a sandbox beside a run's start or end takes the cores that run needs, on a
    // machine with few cores, and costs it what a warm start saves (bench/README.md).
    void activity();
    static constexpr std::chrono::milliseconds idle_before_fill{2};
    // Discards one ready sandbox now (its uid goes back before this returns), for a run that found no free
    // uid. False when none was ready.
    bool shed_one();
    // Sandboxes ready now. Any thread.
    std::size_t ready_count();

private:
    void fill();                        // the pool's thread
    std::optional<WarmSandbox> make();  // one sandbox, on the pool's thread; nothing when it cannot (logged)
    // Writes the run's cgroup limits and sends its start: false when the sandbox does not take it.
    static bool send_start(WarmSandbox& sandbox, const std::string& message, const cgroup::JobLimits& limits);
    std::optional<WarmSandbox> take();  // a ready sandbox, or nothing
    // Ends a sandbox that will not run (ready, or taken and then refused): closes its report channel, which
    // makes its reaper exit, kills what is left, reaps it and removes its cgroup. Blocks until then (up to a
    // second while the kernel still counts the reaper in its cgroup: cgroup::remove_within): the event loop
    // reaches it only on rare paths (a run that found no free uid, a refused start), and gives the mount
    // namespace to close_later first.
    static void discard(WarmSandbox& sandbox);

    const Setup setup_;
    const rlimits::Table rlimits_;  // the warm plan's, the most a start may ask for
    std::atomic<std::uint64_t> made_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<WarmSandbox> ready_;
    bool stopping_ = false;
    bool filling_ = true;  // making sandboxes up to the depth: at start, and after activity()
    std::chrono::steady_clock::time_point last_activity_{};
    std::uint64_t activities_ = 0;           // activity() calls, to wake a pause after a failure
    std::chrono::milliseconds retry_{1000};  // that pause
    std::thread thread_;
};

}  // namespace jaild
