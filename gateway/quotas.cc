#include "gateway/quotas.h"

#include <fmt/format.h>

#include <algorithm>

namespace jaild::gateway {

namespace {

using TimePoint = std::chrono::steady_clock::time_point;

// A run costs kWindow units; a bucket of R runs per minute holds R * kWindow and drains R units a nanosecond.
constexpr std::uint64_t kWindow = 60'000'000'000;  // one minute, in nanoseconds
// Past this rate (a million runs a second) the arithmetic would leave 64 bits; no gateway serves more.
constexpr std::uint64_t kMaxRate = 60'000'000;

std::uint64_t clamp_rate(std::uint64_t runs_per_minute) {
    return std::clamp<std::uint64_t>(runs_per_minute, 1, kMaxRate);
}

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return a / b + (a % b != 0); }

// Nanoseconds of draining at `rate` that `units` take, in whole seconds rounded up.
std::uint64_t seconds_for(std::uint64_t units, std::uint64_t rate) {
    return ceil_div(ceil_div(units, rate), 1'000'000'000);
}

std::optional<std::uint64_t> pick(const Tenant* tenant, const TenantLimits& defaults, TenantLimit limit) {
    if (tenant && tenant->limits[limit]) return tenant->limits[limit];
    return defaults[limit];
}

}  // namespace

EffectiveLimits effective_limits(const Tenant* tenant, const TenantLimits& defaults) {
    EffectiveLimits out;
    out.concurrent_runs = pick(tenant, defaults, TenantLimit::concurrent_runs).value_or(kBuiltinConcurrentRuns);
    out.runs_per_minute = pick(tenant, defaults, TenantLimit::runs_per_minute).value_or(kBuiltinRunsPerMinute);
    out.sessions = pick(tenant, defaults, TenantLimit::sessions);
    out.session_disk_kb = pick(tenant, defaults, TenantLimit::session_disk_kb);
    out.cpu_ms = pick(tenant, defaults, TenantLimit::cpu_ms);
    out.wall_ms = pick(tenant, defaults, TenantLimit::wall_ms);
    out.memory_kb = pick(tenant, defaults, TenantLimit::memory_kb);
    out.output_bytes = pick(tenant, defaults, TenantLimit::output_bytes);
    return out;
}

RunSlot::~RunSlot() {
    if (state_) state_->release(principal_);
}

void QuotaState::drain(Entry& entry, TimePoint now) {
    if (now <= entry.at) return;
    // A minute drains any bucket completely, so longer gaps need not be multiplied out.
    const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - entry.at).count();
    const std::uint64_t drained = std::min<std::uint64_t>(static_cast<std::uint64_t>(elapsed), kWindow) * entry.rate;
    entry.debt = entry.debt > drained ? entry.debt - drained : 0;
    entry.at = now;
}

std::variant<RunSlot, QuotaRefusal> QuotaState::admit(const std::string& principal, const EffectiveLimits& limits) {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_();
    prune(now);
    Entry& entry = entries_[principal];
    drain(entry, now);
    entry.at = now;
    entry.rate = clamp_rate(limits.runs_per_minute);
    if (entry.in_flight >= limits.concurrent_runs) {
        return QuotaRefusal{
            "max_concurrent_runs", 1,
            fmt::format("you have {} runs in flight, the most allowed; retry when one ends", entry.in_flight)};
    }
    const std::uint64_t capacity = entry.rate * kWindow;
    if (entry.debt + kWindow > capacity) {
        const std::uint64_t wait = seconds_for(entry.debt + kWindow - capacity, entry.rate);
        return QuotaRefusal{"runs_per_minute", wait,
                            fmt::format("the rate limit of {} runs per minute is reached; retry in {} s",
                                        limits.runs_per_minute, wait)};
    }
    entry.debt += kWindow;
    ++entry.in_flight;
    return RunSlot(this, principal);
}

RateView QuotaState::rate(const std::string& principal, std::uint64_t runs_per_minute) const {
    const std::uint64_t rate = clamp_rate(runs_per_minute);
    RateView view{runs_per_minute, rate, 0};
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(principal);
    if (it == entries_.end()) return view;
    Entry entry = it->second;
    drain(entry, clock_());
    entry.rate = rate;
    const std::uint64_t capacity = rate * kWindow;
    view.remaining = entry.debt >= capacity ? 0 : (capacity - entry.debt) / kWindow;
    view.reset_s = seconds_for(entry.debt, rate);
    return view;
}

std::size_t QuotaState::principals() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void QuotaState::release(const std::string& principal) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(principal);
    if (it != entries_.end() && it->second.in_flight > 0) --it->second.in_flight;
}

// Every so many admissions (as many as there are entries, so the cost per admission stays constant), forgets
// the principals whose state equals a fresh one: nothing in flight, the bucket full again.
void QuotaState::prune(TimePoint now) {
    if (++since_prune_ < std::max<std::size_t>(64, entries_.size())) return;
    since_prune_ = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        drain(it->second, now);
        it = it->second.in_flight == 0 && it->second.debt == 0 ? entries_.erase(it) : std::next(it);
    }
}

}  // namespace jaild::gateway
