#include "jaild/sandbox/warm_pool.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

#include "common/linux_compat.h"
#include "jaild/sandbox/program_start.h"

namespace jaild {

WarmPool::WarmPool(Setup setup)
    : setup_(std::move(setup)),
      rlimits_(rlimits::prepare({setup_.plan.limits.cpu_ms, setup_.plan.limits.fsize_bytes, setup_.plan.limits.nofile,
                                 setup_.plan.limits.nproc, setup_.plan.limits.stack_bytes})),
      thread_([this] { fill(); }) {}

WarmPool::~WarmPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    for (WarmSandbox& sandbox : ready_) discard(sandbox);
}

std::optional<WarmSandbox> WarmPool::take() {
    std::optional<WarmSandbox> out;
    {
        std::lock_guard lock(mutex_);
        if (ready_.empty()) return out;
        out.emplace(std::move(ready_.front()));
        ready_.pop_front();
    }
    return out;
}

void WarmPool::activity() {
    {
        std::lock_guard lock(mutex_);
        filling_ = true;
        ++activities_;
        last_activity_ = std::chrono::steady_clock::now();
    }
    wake_.notify_one();
}

std::string WarmPool::start_message(const RunPlan& plan) const {
    // What a warm sandbox has fixed: no files of the run's in its fresh /workspace, no session or request
    // workspace, no result channel, the default /tmp size, and limits its start can reach by lowering.
    if (!plan.files.empty() || !plan.workspace_source.empty() || !plan.tmp_source.empty() || plan.result_channel ||
        !plan.session_id.empty() || plan.limits.tmp_bytes != setup_.plan.limits.tmp_bytes ||
        !plan.packages.env.empty() || !plan.packages.wheelhouse.empty())
        return {};
    const ResolvedLimits& l = plan.limits;
    const rlimits::Table wanted = rlimits::prepare({l.cpu_ms, l.fsize_bytes, l.nofile, l.nproc, l.stack_bytes});
    for (std::size_t i = 0; i < wanted.size(); ++i) {
        if (wanted[i].resource != rlimits_[i].resource || wanted[i].hard > rlimits_[i].hard) return {};
    }
    return warm_start_message(wanted, plan.cwd, exec_candidates(plan), plan.argv, plan.env);
}

std::optional<WarmSandbox> WarmPool::start(const RunPlan& plan, const cgroup::JobLimits& limits) {
    const std::string message = start_message(plan);
    if (message.empty()) return std::nullopt;
    std::optional<WarmSandbox> sandbox = take();
    if (sandbox && !send_start(*sandbox, message, limits)) {
        setup_.close_later(std::move(sandbox->spawned.mount_ns));  // its teardown off the caller's thread
        discard(*sandbox);
        sandbox.reset();
    }
    return sandbox;
}

bool WarmPool::send_start(WarmSandbox& sandbox, const std::string& message, const cgroup::JobLimits& limits) {
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

std::optional<WarmSandbox> WarmPool::make() {
    std::uint32_t uid = 0;
    WarmSandbox sandbox;
    sandbox.lease = setup_.spare_uid(uid);
    if (!sandbox.lease) return std::nullopt;
    sandbox.name = fmt::format("{}-warm{}", setup_.name_prefix, ++made_);
    std::error_code ec;
    const cgroup::JobLimits limits{setup_.plan.limits.memory_bytes, setup_.plan.limits.nproc, setup_.cpu_quota_percent};
    sandbox.cgroup = setup_.cgroups->create(sandbox.name, limits, ec);
    if (!sandbox.cgroup) {
        spdlog::error("warm sandbox {}: creating its cgroup failed: {}", sandbox.name, ec.message());
        return std::nullopt;
    }
    const Spawner& spawner = *setup_.spawner;
    sandbox.spawned =
        spawner.spawn(setup_.plan, uid, sandbox.cgroup.get(), setup_.cgroups->version() == "v2", ec, true);
    std::string failure;
    if (ec)
        failure = "clone: " + ec.message();
    else if (!sandbox.spawned.early_reports.empty())
        failure = spawner.describe_failure(sandbox.spawned.early_reports.front(), sandbox.spawned);
    else if (!sandbox.spawned.mount_ns)
        failure = "its first process ended before it was set up";
    if (!failure.empty()) {
        spdlog::error("warm sandbox {}: {}", sandbox.name, failure);
        discard(sandbox);
        return std::nullopt;
    }
    return sandbox;
}

std::size_t WarmPool::ready_count() {
    std::lock_guard lock(mutex_);
    return ready_.size();
}

bool WarmPool::shed_one() {
    std::optional<WarmSandbox> sandbox;
    {
        std::lock_guard lock(mutex_);
        if (ready_.empty()) return false;
        sandbox.emplace(std::move(ready_.back()));
        ready_.pop_back();
    }
    setup_.close_later(std::move(sandbox->spawned.mount_ns));
    discard(*sandbox);
    return true;
}

void WarmPool::discard(WarmSandbox& sandbox) {
    Spawned& s = sandbox.spawned;
    // EOF on the channel ends a waiting reaper; SIGKILL ends one that is not waiting any more.
    s.report_r.reset();
    if (s.pidfd && sys::pidfd_send_signal(s.pidfd.get(), SIGKILL) != 0 && errno != ESRCH)
        spdlog::error("warm sandbox {}: pidfd_send_signal: {}", sandbox.name, std::strerror(errno));
    if (s.pidfd) {
        siginfo_t info{};
        while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(s.pidfd.get()), &info, WEXITED) != 0 &&
               errno == EINTR) {
        }
    }
    if (sandbox.cgroup) {
        if (const std::error_code ec = cgroup::remove_within(*sandbox.cgroup, std::chrono::seconds(1)))
            spdlog::error("warm sandbox {}: removing its cgroup: {}", sandbox.name, ec.message());
    }
    sandbox = WarmSandbox{};  // the mount namespace, the pipes, then the uid (the lease) go
}

void WarmPool::fill() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || (filling_ && ready_.size() < setup_.depth); });
        if (stopping_) return;
        // Only once runs have let the cores alone for a moment: a sandbox built while a run starts or ends
        // takes the cores that run needs, and on a small machine costs it what a warm start saves
        // (bench/README.md). Under a steady stream of runs the pool stays empty and runs start cold.
        const auto quiet_at = last_activity_ + idle_before_fill;
        if (std::chrono::steady_clock::now() < quiet_at) {
            wake_.wait_until(lock, quiet_at, [this] { return stopping_; });
            continue;
        }
        lock.unlock();
        std::optional<WarmSandbox> sandbox;
        try {
            sandbox = make();
        } catch (const std::exception& e) {  // never let it end jaild: runs still start cold
            spdlog::error("warm sandbox: {}", e.what());
        }
        lock.lock();
        if (!sandbox) {
            // No uid to spare, or a setup that failed (logged by make): again after the next run starts or
            // ends, or after a pause that doubles while it keeps failing (1 s up to a minute).
            const std::uint64_t seen = activities_;
            wake_.wait_for(lock, retry_, [this, seen] { return stopping_ || activities_ != seen; });
            retry_ = std::min(retry_ * 2, std::chrono::milliseconds(60'000));
            continue;
        }
        retry_ = std::chrono::milliseconds(1000);
        if (stopping_) {
            lock.unlock();
            discard(*sandbox);
            return;
        }
        ready_.push_back(std::move(*sandbox));
        if (ready_.size() >= setup_.depth) filling_ = false;
    }
}

}  // namespace jaild
