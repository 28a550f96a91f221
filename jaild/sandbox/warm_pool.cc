#include "jaild/sandbox/warm_pool.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

#include "common/linux_compat.h"

namespace jaild {

WarmPool::WarmPool(std::size_t depth, Maker make)
    : depth_(depth), make_(std::move(make)), thread_([this] { fill(); }) {}

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

bool WarmPool::shed_one(const std::function<void(unique_fd)>& close_later) {
    std::optional<WarmSandbox> sandbox;
    {
        std::lock_guard lock(mutex_);
        if (ready_.empty()) return false;
        sandbox.emplace(std::move(ready_.back()));
        ready_.pop_back();
    }
    close_later(std::move(sandbox->spawned.mount_ns));
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
        wake_.wait(lock, [this] { return stopping_ || (filling_ && ready_.size() < depth_); });
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
            sandbox = make_();
        } catch (const std::exception& e) {  // never let it end jaild: runs still start cold
            spdlog::error("warm sandbox: {}", e.what());
        }
        lock.lock();
        if (!sandbox) {
            // No uid to spare, or a setup that failed (logged by make_): again after the next run starts or
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
        if (ready_.size() >= depth_) filling_ = false;
    }
}

}  // namespace jaild
