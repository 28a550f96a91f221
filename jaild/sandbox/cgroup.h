// cgroups of jaild's jobs, v1 and v2 behind one interface. Runs in jaild (the parent) only: the child side
// is the AttachFds it is handed, which it uses with clone3(CLONE_INTO_CGROUP) or one write(2) per fd.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/unique_fd.h"

namespace jaild::cgroup {

struct JobLimits {
    std::uint64_t memory_bytes = 0;       // memory.max / memory.limit_in_bytes; swap is always 0
    std::uint32_t pids_max = 0;           // pids.max
    std::uint32_t cpu_quota_percent = 0;  // cpu.max / cfs_quota_us; 0 = none (100 = one full CPU)
    // v2 memory.oom.group: an OOM kills the whole job (a run), or only the process the kernel picks (a live
    // session's sandbox, whose agent and other processes serve on). v1 always does the latter.
    bool oom_kills_all = true;
};

struct JobStats {
    std::uint64_t cpu_usec = 0;           // cpu.stat usage_usec / cpuacct.usage
    std::uint64_t memory_peak_bytes = 0;  // memory.peak / memory.max_usage_in_bytes (0 if unknown)
    bool oom_killed = false;              // memory.events oom_kill / memory.oom_control oom_kill
    bool measured = true;                 // false: no cgroup (make_none), so none of the above is known
};

// What the child needs to join its cgroup. v2: clone_into_fd is an O_DIRECTORY fd for CLONE_INTO_CGROUP.
// v1 (or v2 without clone3): procs_fds are open cgroup.procs files the child writes "0" to, which moves it.
struct AttachFds {
    int clone_into_fd = -1;
    std::array<int, 6> procs_fds{-1, -1, -1, -1, -1, -1};
    int procs_count = 0;
};

class JobCgroup {
public:
    virtual ~JobCgroup() = default;
    virtual const AttachFds& attach() const = 0;
    // Writes the limits again, as create() did: a warm sandbox's cgroup (warm_pool.h) is made before its
    // run's limits are known. Lowering the memory limit below what the cgroup uses makes the kernel
    // reclaim, and fail (v1, EBUSY) or OOM-kill the cgroup (v2), as a cold run over its limit would be.
    virtual std::error_code set_limits(const JobLimits& limits) = 0;
    // Kills every process in the job's cgroup(s): cgroup.kill on v2, freeze + SIGKILL + thaw on v1.
    virtual std::error_code kill_all() = 0;
    virtual JobStats stats() const = 0;
    // True when no process is left in the cgroup.
    virtual bool empty() const = 0;
    // rmdir of the job's cgroup(s). Fails with EBUSY while processes remain: the caller retries later.
    // Idempotent: a second successful call does nothing.
    virtual std::error_code remove() = 0;
};

// Removing a job's cgroup once its processes are meant to be gone: each attempt kills what is left and
// removes the cgroup(s); the kernel may still count exiting tasks for a moment (EBUSY), so attempts are
// repeated with a pause that doubles from 1 ms up to a second. The one place that knows this; callers that
// may block use remove_within(), jaild's event loop (Supervisor::retire) waits the pauses on its timer.
class Teardown {
public:
    explicit Teardown(JobCgroup& group) : group_(group) {}
    // One attempt: true once the cgroup is removed; error() tells why not.
    bool attempt();
    const std::error_code& error() const { return error_; }
    int attempts() const { return attempts_; }
    // How long to wait before the next attempt.
    std::chrono::milliseconds next_pause();

private:
    JobCgroup& group_;
    std::error_code error_;
    int attempts_ = 0;
    std::chrono::milliseconds pause_{1};
};

// Attempts until the cgroup is removed or `deadline` has passed, sleeping between attempts (at most 10 ms
// each): the error of the last attempt, or none.
std::error_code remove_within(JobCgroup& group, std::chrono::milliseconds deadline);

class Manager {
public:
    virtual ~Manager() = default;
    virtual std::string_view version() const = 0;  // "v1", "v2" or "none"
    // Creates the cgroup(s) for one job, named job-<name>, with its limits applied. On failure returns
    // nullptr and sets ec; nothing is left behind.
    virtual std::unique_ptr<JobCgroup> create(std::string_view name, const JobLimits& limits, std::error_code& ec) = 0;
    // Kills the processes of, and removes, every job-* cgroup a previous jaild left behind. Returns how
    // many were removed.
    virtual int cleanup_stale() = 0;
    // Names (job-...) of the job cgroups that exist now. Tests use it to prove nothing is left behind.
    virtual std::vector<std::string> list_jobs() const = 0;
    // One line per controller saying where it is and whether it works (for jaild --check).
    virtual std::vector<std::string> describe() const = 0;
    // Whether the cpu quota controller is usable.
    virtual bool has_cpu_controller() const = 0;
};

// v2: `root` is the cgroup directory jaild owns (its own cgroup under systemd's Delegate=yes, or a
// configured one). If jaild's process is in `root`, it moves itself into root/supervisor first (the
// no-internal-processes rule), then enables +memory +pids (+cpu when available) in root's subtree_control.
// `move_self` = false is for tests over a fake directory tree.
std::unique_ptr<Manager> make_v2(const std::filesystem::path& root, bool move_self);

// v1: one directory per controller, each jaild's base for that controller (jobs are created beneath).
// Keys: "memory", "pids", "cpuacct", "cpu", "freezer". memory, pids and cpuacct are required.
std::unique_ptr<Manager> make_v1(const std::map<std::string, std::filesystem::path>& roots);

// Degraded mode ([sandbox] degraded): no cgroups at all. Its jobs attach nothing, limit nothing and measure
// nothing (JobStats::measured is false); the run's limits are its rlimits, and killing its PID 1 ends it.
std::unique_ptr<Manager> make_none();

// Detects the host's hierarchy from /proc/self/mountinfo and /proc/self/cgroup and builds the manager
// beneath jaild's own cgroup (or `configured_root` when not empty: a cgroup path such as "/jaild.slice",
// taken within the v2 hierarchy or within each v1 controller's hierarchy). Throws std::runtime_error naming what is
// missing.
std::unique_ptr<Manager> detect(const std::string& configured_root);

}  // namespace jaild::cgroup
