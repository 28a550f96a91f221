#include "gateway/auth_throttle.h"

#include <algorithm>
#include <cmath>

namespace jaild::gateway {

double AuthThrottle::refilled(const Bucket& bucket, Clock::time_point now) {
    const double earned = std::chrono::duration<double>(now - bucket.at) / kRefill;
    return std::min(kBurst, bucket.tokens + std::max(0.0, earned));
}

std::chrono::seconds AuthThrottle::blocked_for(const std::string& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    const auto it = buckets_.find(address);
    if (it == buckets_.end()) return std::chrono::seconds(0);
    const double tokens = refilled(it->second, now);
    if (tokens >= 1) return std::chrono::seconds(0);
    const double wait = (1 - tokens) * std::chrono::duration<double>(kRefill).count();
    return std::chrono::seconds(std::max<long>(1, static_cast<long>(std::ceil(wait))));
}

void AuthThrottle::failed(const std::string& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(address);
    if (it == buckets_.end()) {
        if (buckets_.size() >= kTracked) prune(now);
        it = buckets_.emplace(address, Bucket{kBurst, now}).first;
    }
    it->second.tokens = std::max(0.0, refilled(it->second, now) - 1);
    it->second.at = now;
}

// Forgets the addresses whose bucket is full again; when none is, the one that failed longest ago. Holds mutex_.
void AuthThrottle::prune(Clock::time_point now) {
    std::erase_if(buckets_, [&](const auto& entry) { return refilled(entry.second, now) >= kBurst; });
    if (buckets_.size() < kTracked) return;
    const auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                         [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
    buckets_.erase(oldest);
}

std::size_t AuthThrottle::tracked() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

}  // namespace jaild::gateway
