// Sandboxes prepared ahead of the runs that can use them ("warm"). Building a sandbox — uid, cgroup,
// namespaces, the run's mounts, pivot_root, credentials, seccomp, the exec of jaild-reaper — is most of a
// short run's latency (bench/README.md, warm sandboxes), and none of it depends on what the run executes.
// A helper thread keeps `depth` such sandboxes whose jaild-reaper waits for its start message (child_abi.h);
// a run that fits (Supervisor::start) takes one, has its cgroup limits written and sends the message: argv,
// environment, working directory, resource limits. Each sandbox serves exactly one run, like a cold one.
#pragma once

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
#include "jaild/sandbox/spawn.h"

namespace jaild {

class Lease;

struct WarmSandbox {
    std::shared_ptr<Lease> lease;  // its uid
    std::unique_ptr<cgroup::JobCgroup> cgroup;
    Spawned spawned;
    std::string name;  // its cgroup's, for the log
};

class WarmPool {
public:
    // Makes one sandbox, on the pool's thread; nothing when it cannot (no free uid, a failed setup: it logs).
    using Maker = std::function<std::optional<WarmSandbox>()>;

    // Starts the thread, which keeps `depth` sandboxes ready.
    WarmPool(std::size_t depth, Maker make);
    // Stops the thread and discards every sandbox not taken: when it returns, their processes are reaped,
    // their cgroups removed and their uids back in the pool.
    ~WarmPool();
    WarmPool(const WarmPool&) = delete;

    // A ready sandbox, or nothing when none is. Any thread.
    std::optional<WarmSandbox> take();
    // A run started or ended. The pool refills up to its depth once no run has started or ended for
    // idle_before_fill: building a sandbox beside a run's start or end takes the cores that run needs, on a
    // machine with few cores, and costs it what a warm start saves (bench/README.md).
    void activity();
    static constexpr std::chrono::milliseconds idle_before_fill{2};
    // Discards one ready sandbox now (its uid goes back before this returns), for a run that found no free
    // uid. False when none was ready. Its mount namespace goes to `close_later` (its teardown is slow).
    bool shed_one(const std::function<void(unique_fd)>& close_later);
    // Ends a sandbox that will not run (ready, or taken and then refused): closes its report channel, which
    // makes its reaper exit, kills what is left, reaps it and removes its cgroup. Blocks until then
    // (up to a second while the kernel still counts the reaper in its cgroup: cgroup::remove_within): the
    // event loop calls it only on rare paths (a run that found no free uid, a refused start),
    // and gives the mount namespace to Supervisor::close_later first.
    static void discard(WarmSandbox& sandbox);

private:
    void fill();  // the pool's thread

    const std::size_t depth_;
    Maker make_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<WarmSandbox> ready_;
    bool stopping_ = false;
    bool filling_ = true;  // making sandboxes up to depth_: at start, and after activity()
    std::chrono::steady_clock::time_point last_activity_{};
    std::uint64_t activities_ = 0;           // activity() calls, to wake a pause after a failure
    std::chrono::milliseconds retry_{1000};  // that pause
    std::thread thread_;
};

}  // namespace jaild
