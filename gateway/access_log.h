// One JSON line per answered HTTP request on stderr (the journal's), and that request's share of the
// metrics (gateway/metrics.h). docs/operations.md "Metrics and logs" lists the fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/rejection.h"

namespace jaild::gateway {

struct AccessEntry {
    std::string_view request_id;
    std::string_view tenant;  // the key's tenant; empty without one (logged as null). Never the key.
    std::string_view remote;
    std::string_view method;
    std::string_view route;    // the route's pattern; empty when none matched (null)
    unsigned status = 0;       // 0: the client left before an answer
    std::string_view verdict;  // a run's outcome (result status); empty for other requests (null)
    std::uint64_t wall_ms = 0;
    std::uint64_t bytes_in = 0;      // the request's body
    std::uint64_t bytes_out = 0;     // the answer's body
    std::optional<Reason> rejected;  // why the gateway refused it (auth, rate, quota); none: see record_access
};

// The entry as one line of JSON, without the newline. Pure.
std::string access_log_line(const AccessEntry& entry);

// Writes the line to stderr in one write, and counts the request (jaild_http_requests_total) and its rejection
// (jaild_rejections_total: `rejected`, else a 400, 413, 415 or 422 that is not a run's answer counts as a
// validation rejection). Any thread.
void record_access(const AccessEntry& entry);

}  // namespace jaild::gateway
