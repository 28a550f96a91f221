#include "gateway/access_log.h"

#include <unistd.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "gateway/metrics.h"

namespace jaild::gateway {

namespace json = boost::json;

namespace {

json::value null_if_empty(std::string_view text) { return text.empty() ? json::value(nullptr) : json::value(text); }

// The answers the gateway gives to a request it could not accept as sent.
bool is_validation_status(unsigned status) { return status == 400 || status == 413 || status == 415 || status == 422; }

// The handler's reason, else validation for such an answer that is not a run's own (a seed 004 script that did
// not return from main() answers 400, yet it ran).
std::optional<Reason> rejection(const AccessEntry& entry) {
    if (entry.rejected) return entry.rejected;
    if (is_validation_status(entry.status) && entry.verdict.empty()) return Reason::validation;
    return std::nullopt;
}

}  // namespace

std::string access_log_line(const AccessEntry& entry) {
    json::object line;
    line["request_id"] = entry.request_id;
    line["tenant"] = null_if_empty(entry.tenant);
    line["remote"] = entry.remote;
    line["method"] = entry.method;
    line["route"] = null_if_empty(entry.route);
    line["status"] = entry.status;
    line["verdict"] = null_if_empty(entry.verdict);
    const std::optional<Reason> rejected = rejection(entry);
    line["rejected"] = rejected ? json::value(reason_name(*rejected)) : json::value(nullptr);
    line["wall_ms"] = entry.wall_ms;
    line["bytes_in"] = entry.bytes_in;
    line["bytes_out"] = entry.bytes_out;
    return json::serialize(line);
}

void record_access(const AccessEntry& entry) {
    std::string line = access_log_line(entry);
    line += '\n';
    // One write per line, so lines from concurrent connections never interleave; a lost log line is not worth
    // failing the request for.
    for (std::string_view rest = line; !rest.empty();) {
        const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
        if (n <= 0) break;
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    GatewayMetrics& metrics = gateway_metrics();
    metrics.count_request(entry.route.empty() ? "unmatched" : entry.route, entry.status);
    if (const std::optional<Reason> rejected = rejection(entry)) metrics.count_rejection(*rejected);
}

}  // namespace jaild::gateway
