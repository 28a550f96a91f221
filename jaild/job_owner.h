// What a Job (job.h) needs from whoever started it, the Supervisor: the Job calls back through this and
// never names its owner, so the dependency runs one way.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "jaild.pb.h"
#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/child_abi.h"
#include "jaild/sandbox/spawn.h"

namespace jaild {

class JobOwner {
public:
    // The run's processes are gone: removes its cgroup, retrying while the kernel still counts exiting
    // tasks. The uid goes back with the job's lease, after this.
    virtual boost::asio::awaitable<void> retire(std::unique_ptr<cgroup::JobCgroup> cgroup, std::string job_id) = 0;
    // The Job is being destroyed: its id is no longer running, and its mount namespace is closed (or, in chroot
    // mode, its root removed) off the loop.
    virtual void job_ended(const std::string& job_id, unique_fd mount_ns, ChrootRoot root) = 0;
    // The run's PID 1 has ended or is being killed. In chroot mode, where no PID namespace takes the run's
    // other processes along, kills every process of its uid; otherwise nothing is left to do.
    virtual void end_processes(std::uint32_t uid) = 0;
    // How runs are isolated where that is weaker than cgroups and namespaces (degraded or chroot mode): every
    // answer carries it (replies.h, isolation_of). Null otherwise.
    virtual const v1::Isolation* isolation() const = 0;
    // A failed setup report of the run in words (stage_text.h).
    virtual std::string describe_failure(const ChildReport& report, const Spawned& spawned) const = 0;

protected:
    ~JobOwner() = default;
};

}  // namespace jaild
