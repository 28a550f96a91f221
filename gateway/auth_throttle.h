// Failed authentication attempts, throttled per client address: a token bucket of kBurst failures that refills
// one failure every kRefill. An address whose bucket is empty is answered 429 (even with a correct key) until a
// token is back. Memory is bounded: at most kTracked addresses are remembered.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace jaild::gateway {

class AuthThrottle {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr double kBurst = 10;
    static constexpr Clock::duration kRefill = std::chrono::seconds(6);
    static constexpr std::size_t kTracked = 4096;

    // Whole seconds until `address` may try again (at least 1), or 0 when it may now. Any thread.
    std::chrono::seconds blocked_for(const std::string& address, Clock::time_point now);
    // One failed attempt by `address`.
    void failed(const std::string& address, Clock::time_point now);
    std::size_t tracked() const;

private:
    struct Bucket {
        double tokens = kBurst;
        Clock::time_point at;
    };
    static double refilled(const Bucket& bucket, Clock::time_point now);
    void prune(Clock::time_point now);

    mutable std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace jaild::gateway
