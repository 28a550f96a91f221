// The gateway's Prometheus metrics (GET /metrics, docs/operations.md "Metrics and logs"): what the gateway
// counts itself (runs, HTTP requests, rejections) in a prometheus-cpp registry, and jaild's own counters
// (a StatsRequest per scrape) added to the text as they were answered. Thread-safe: every connection's strand
// counts into the one process-wide instance (gateway_metrics()); tests make their own.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/rejection.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// Why the gateway refused a request before it reached jaild (jaild_rejections_total's reason label).

// What a finished run adds to the metrics.
struct RunRecord {
    std::string_view endpoint;  // the route's pattern: /execute, /sessions/{id}/run, ...
    std::string_view language;  // a name or alias jaild accepted, "argv" for /run, "other" otherwise
    std::string_view status;    // the result's status (ok, timeout, ...), or "client_gone"
    std::optional<double> wall_seconds, cpu_seconds;  // none when the run never reported its end
};

class GatewayMetrics {
public:
    GatewayMetrics();

    void count_run(const RunRecord& run);
    // One answered HTTP request; `route` is the pattern (never the raw path), "unmatched" for a 404.
    void count_request(std::string_view route, unsigned status);
    void count_rejection(Reason reason);

    // The text format (version 0.0.4) of everything counted, with jaild's counters from `stats` when jaild
    // answered the scrape's StatsRequest (else only jaild_up 0).
    std::string serialize(const v1::Stats* stats) const;

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& runs_;
    prometheus::Family<prometheus::Histogram>& wall_;
    prometheus::Family<prometheus::Histogram>& cpu_;
    prometheus::Family<prometheus::Counter>& requests_;
    prometheus::Family<prometheus::Counter>& rejections_;
};

// The status label of a result object's "status" (bounded: an unknown word becomes "other").
std::string_view run_status_label(std::string_view status);

// The process's instance, which /metrics serves.
GatewayMetrics& gateway_metrics();

// One line where a request is refused: counts it in the process's metrics.
inline void count_rejection(Reason reason) { gateway_metrics().count_rejection(reason); }

}  // namespace jaild::gateway
