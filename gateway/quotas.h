// Per-tenant quotas and rate limits (docs/operations.md, "Quotas and rate limits"): the limits that apply to a
// caller (its tenant's overrides over the config's [tenant_defaults] over built-in values), and the gateway's
// per-principal state behind them: runs in flight and a token bucket of runs per minute. Pure apart from the
// clock, which the state takes as a parameter so tests drive time exactly. Any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "gateway/tenant_keys.h"

namespace jaild::gateway {

// What applies when neither the tenant nor [tenant_defaults] sets a concurrency or a rate: as many runs at once
// as jaild takes by default (server.max_jobs), and a hundred runs a second, so a lone caller of an open gateway
// is held back only by a runaway loop; an operator sharing the service between tenants sets lower ones.
inline constexpr std::uint64_t kBuiltinConcurrentRuns = 64;
inline constexpr std::uint64_t kBuiltinRunsPerMinute = 6000;

// The limits of one caller. An absent value is jaild's own: its session limits and its request maxima.
struct EffectiveLimits {
    std::uint64_t concurrent_runs = kBuiltinConcurrentRuns;
    std::uint64_t runs_per_minute = kBuiltinRunsPerMinute;
    std::optional<std::uint64_t> sessions, session_disk_kb;
    std::optional<std::uint64_t> cpu_ms, wall_ms, memory_kb, output_bytes;

    bool operator==(const EffectiveLimits&) const = default;
};

// tenant override ?? config default ?? built-in. `tenant` is null for a caller without a keys file.
EffectiveLimits effective_limits(const Tenant* tenant, const TenantLimits& defaults);

// Why a run was not admitted: the quota's key (as in the keys file) and when to come back.
struct QuotaRefusal {
    std::string quota;
    std::uint64_t retry_after_s = 1;
    std::string message;
};

// A run-per-minute policy's state for the RateLimit fields: r (runs left now) and t (seconds until the bucket
// is full again).
struct RateView {
    std::uint64_t limit = 0;
    std::uint64_t remaining = 0;
    std::uint64_t reset_s = 0;
};

class QuotaState;

// One admitted run: holds a concurrency slot until destroyed (every way a handler ends).
class RunSlot {
public:
    RunSlot(QuotaState* state, std::string principal) : state_(state), principal_(std::move(principal)) {}
    RunSlot(RunSlot&& other) noexcept : state_(other.state_), principal_(std::move(other.principal_)) {
        other.state_ = nullptr;
    }
    RunSlot(const RunSlot&) = delete;
    RunSlot& operator=(const RunSlot&) = delete;
    RunSlot& operator=(RunSlot&&) = delete;
    ~RunSlot();

private:
    QuotaState* state_;
    std::string principal_;
};

class QuotaState {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    explicit QuotaState(Clock clock = [] { return std::chrono::steady_clock::now(); }) : clock_(std::move(clock)) {}

    // Takes a slot of `limits.concurrent_runs` and a token of the runs-per-minute bucket, or neither.
    std::variant<RunSlot, QuotaRefusal> admit(const std::string& principal, const EffectiveLimits& limits);
    // The bucket as it stands (a principal never seen has a full one).
    RateView rate(const std::string& principal, std::uint64_t runs_per_minute) const;
    // Principals with state kept: those with a run in flight or a bucket not yet full again.
    std::size_t principals() const;

private:
    friend class RunSlot;
    struct Entry {
        std::uint64_t in_flight = 0;
        // Used quota in units where a run costs one minute's worth of nanoseconds and `rate` units drain per
        // nanosecond: integers, so a burst and its refill are exact.
        std::uint64_t debt = 0;
        std::chrono::steady_clock::time_point at{};
        std::uint64_t rate = 1;  // runs per minute, as last admitted
    };
    static void drain(Entry& entry, std::chrono::steady_clock::time_point now);
    void release(const std::string& principal);
    void prune(std::chrono::steady_clock::time_point now);

    Clock clock_;
    mutable std::mutex mutex_;
    std::map<std::string, Entry> entries_;
    std::size_t since_prune_ = 0;
};

}  // namespace jaild::gateway
