// Latency samples and the one-line `key=value` report every bench program prints, so bench/run can turn
// them into tables with awk. Header-only: both bench programs use it and nothing else does.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace jaild::bench {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The q-quantile (0..1) of the samples by nearest rank; sorts them. 0 when there are none.
inline double quantile(std::vector<double>& samples, double q) {
    if (samples.empty()) return 0;
    std::sort(samples.begin(), samples.end());
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(rank, samples.size() - 1)];
}

// Prints `runs=N errors=E seconds=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. min_ms=.. max_ms=..` on stdout, then
// `extra` (more `key=value` pairs) when given.
inline void print_report(std::vector<double> samples, std::size_t errors, double seconds,
                         const std::string& extra = {}) {
    const double runs = static_cast<double>(samples.size());
    std::printf(
        "runs=%zu errors=%zu seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f min_ms=%.3f "
        "max_ms=%.3f%s%s\n",
        samples.size(), errors, seconds, seconds > 0 ? runs / seconds : 0.0, quantile(samples, 0.5),
        quantile(samples, 0.9), quantile(samples, 0.99), quantile(samples, 0.0), quantile(samples, 1.0),
        extra.empty() ? "" : " ", extra.c_str());
    std::fflush(stdout);
}

}  // namespace jaild::bench
