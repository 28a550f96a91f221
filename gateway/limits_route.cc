#include "gateway/limits_route.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "gateway/jaild_forwarding.h"
#include "gateway/limits.h"
#include "gateway/quota_admission.h"

namespace jaild::gateway {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

json::object limits_object(const v1::Limits& limits) {
    json::object out;
    out["cpu_ms"] = limits.cpu_ms();
    out["wall_ms"] = limits.wall_ms();
    out["memory_kb"] = limits.memory_kb();
    out["fsize_kb"] = limits.fsize_kb();
    out["nofile"] = limits.nofile();
    out["nproc"] = limits.nproc();
    out["output_bytes"] = limits.output_bytes();
    out["tmp_kb"] = limits.tmp_kb();
    return out;
}

json::value optional_value(const std::optional<std::uint64_t>& value) {
    if (!value) return nullptr;
    return *value;
}

}  // namespace

std::string limits_body(const v1::LimitSets& sets, const EffectiveLimits& quotas, const std::string& tenant) {
    json::object body;
    body["tenant"] = tenant.empty() ? json::value(nullptr) : json::value(tenant);
    body["defaults"] = limits_object(sets.defaults());
    body["maxima"] = limits_object(sets.maxima());
    // The script dialect (seeds 001, 004) has its own defaults, within the maxima.
    json::object script;
    script["cpu_ms"] = std::min<std::uint64_t>(kScriptDefaultLimitMs, sets.maxima().cpu_ms());
    script["wall_ms"] = std::min<std::uint64_t>(kScriptDefaultLimitMs, sets.maxima().wall_ms());
    script["memory_kb"] = std::min<std::uint64_t>(kScriptDefaultMemoryKb, sets.maxima().memory_kb());
    body["script_defaults"] = std::move(script);
    json::object quota;
    quota["concurrent_runs"] = quotas.concurrent_runs;
    quota["runs_per_minute"] = quotas.runs_per_minute;
    quota["sessions"] = optional_value(quotas.sessions);
    quota["session_disk_kb"] = optional_value(quotas.session_disk_kb);
    body["quotas"] = std::move(quota);
    return json::serialize(body);
}

asio::awaitable<void> handle_limits(Exchange& exchange) {
    v1::ClientMessage message;
    message.mutable_limits();
    v1::ServerMessage reply;
    if (!co_await request_reply(exchange, message, RequestKind::languages, reply)) co_return;
    const std::string body =
        limits_body(reply.limit_sets(), caller_limits(exchange.options, exchange.caller), exchange.caller.tenant);
    co_await send_json(exchange, 200, body);
}

}  // namespace jaild::gateway
