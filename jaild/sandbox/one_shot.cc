#include "jaild/sandbox/one_shot.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "common/linux_compat.h"
#include "jaild/sandbox/spawn.h"
#include "jaild/sandbox/uid_kill.h"
#include "jaild/sandbox/uid_pool.h"

namespace jaild {

namespace {
constexpr std::size_t kMaxOutput = 64 * 1024;
}

bool OneShot::exited_zero() const {
    for (const ChildReport& r : reports)
        if (r.kind == ChildReport::exited) return WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0;
    return false;
}

OneShot run_one_shot(const Spawner& spawner, cgroup::Manager* cgroups, const RunPlan& plan, std::uint32_t uid,
                     const std::string& cgroup_name, int timeout_ms) {
    OneShot shot;
    std::error_code ec;
    std::unique_ptr<cgroup::JobCgroup> group;
    if (cgroups) {
        group = cgroups->create(cgroup_name, {plan.limits.memory_bytes, plan.limits.nproc, 0}, ec);
        shot.cgroup_detail = group ? "created with memory and pids limits" : "create failed: " + ec.message();
    }
    Spawned spawned = spawner.spawn(plan, uid, group.get(), cgroups && cgroups->version() == "v2", ec);
    if (ec) {
        shot.error = "clone3: " + ec.message();
    } else {
        spawned.stdin_w.reset();
        // Both outputs are read while it runs, so a chatty program cannot block on a full pipe.
        std::string* streams[2] = {&shot.out, &shot.err};
        pollfd fds[2] = {{spawned.stdout_r.get(), POLLIN, 0}, {spawned.stderr_r.get(), POLLIN, 0}};
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (int open = 2; open > 0;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || ::poll(fds, 2, static_cast<int>(left.count())) <= 0) {
                if (spawned.pidfd)
                    sys::pidfd_send_signal(spawned.pidfd.get(), SIGKILL);
                else
                    ::kill(spawned.pid, SIGKILL);  // our unreaped child: its pid cannot have been reused
                if (spawned.chroot_root) kill_uid(uid, reaper_uid_of(uid));  // no PID namespace ends the rest
                shot.error = "timed out";
                break;
            }
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
                char buffer[4096];
                const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
                if (n <= 0) {
                    fds[i].fd = -1;
                    --open;
                } else if (streams[i]->size() < kMaxOutput) {
                    streams[i]->append(buffer, static_cast<std::size_t>(n));
                }
            }
        }
        siginfo_t info{};
        if (spawned.pidfd)
            ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(spawned.pidfd.get()), &info, WEXITED);
        else
            ::waitid(P_PID, static_cast<id_t>(spawned.pid), &info, WEXITED | __WALL);
        if (spawned.chroot_root) kill_uid(uid, reaper_uid_of(uid));
        shot.reports = drain_reports(spawned);
        for (const ChildReport& r : shot.reports) {
            if (r.kind == ChildReport::failed) {
                shot.failure = spawner.describe_failure(r, spawned);
                break;
            }
        }
    }
    if (group) cgroup::remove_within(*group, std::chrono::seconds(1));
    return shot;
}

}  // namespace jaild
