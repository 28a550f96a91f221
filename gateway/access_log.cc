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
    // A run that answers 400 (a seed 004 script that did not return from main()) ran: not a rejection.
    if (is_validation_status(entry.status) && entry.verdict.empty()) metrics.count_rejection(Reason::validation);
}

}  // namespace jaild::gateway
