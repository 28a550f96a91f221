#include "gateway/quota_admission.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "gateway/result_rendering.h"

namespace jaild::gateway {

namespace json = boost::json;

namespace {

// One row per request maximum: the caller's limit, the proto field, how to read and lower it.
struct MaximumRow {
    std::optional<std::uint64_t> EffectiveLimits::*maximum;
    const char* proto;
    std::uint64_t (*get)(const v1::Limits&);
    void (*set)(v1::Limits&, std::uint64_t);
};

const MaximumRow kMaximumRows[] = {
    {&EffectiveLimits::cpu_ms, "cpu_ms", [](const v1::Limits& l) -> std::uint64_t { return l.cpu_ms(); },
     [](v1::Limits& l, std::uint64_t v) { l.set_cpu_ms(static_cast<std::uint32_t>(v)); }},
    {&EffectiveLimits::wall_ms, "wall_ms", [](const v1::Limits& l) -> std::uint64_t { return l.wall_ms(); },
     [](v1::Limits& l, std::uint64_t v) { l.set_wall_ms(static_cast<std::uint32_t>(v)); }},
    {&EffectiveLimits::memory_kb, "memory_kb", [](const v1::Limits& l) { return l.memory_kb(); },
     [](v1::Limits& l, std::uint64_t v) { l.set_memory_kb(v); }},
    {&EffectiveLimits::output_bytes, "output_bytes", [](const v1::Limits& l) { return l.output_bytes(); },
     [](v1::Limits& l, std::uint64_t v) { l.set_output_bytes(v); }},
};

v1::Limits* limits_of(ParsedRequest& request) {
    if (request.message.has_run()) return request.message.mutable_run()->mutable_limits();
    if (request.message.has_execute()) return request.message.mutable_execute()->mutable_limits();
    return nullptr;
}

// Proto fields are at most 32 bits where they are uint32: a maximum beyond that cannot be exceeded.
std::uint32_t narrow(const std::optional<std::uint64_t>& value) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(value.value_or(0), UINT32_MAX));
}

std::string maximum_body(const MaximumExceeded& excess) {
    json::object body;
    body["error"] = fmt::format("{} {} is above your maximum of {}", excess.field, excess.asked, excess.maximum);
    body["field"] = excess.field;
    body["maximum"] = excess.maximum;
    return json::serialize(body);
}

std::string refusal_body(const QuotaRefusal& refusal) {
    json::object body;
    body["error"] = refusal.message;
    body["field"] = nullptr;
    body["quota"] = refusal.quota;
    return json::serialize(body);
}

}  // namespace

EffectiveLimits caller_limits(const GatewayOptions& options, const Caller& caller) {
    return effective_limits(caller.entry, options.tenant_defaults);
}

HeaderList rate_limit_fields(const GatewayOptions& options, const Caller& caller) {
    const std::uint64_t per_minute = caller_limits(options, caller).runs_per_minute;
    const RateView view = options.quotas->rate(caller.principal, per_minute);
    return {{"RateLimit-Policy", fmt::format("\"runs\";q={};w=60", view.limit)},
            {"RateLimit", fmt::format("\"runs\";r={};t={}", view.remaining, view.reset_s)}};
}

std::optional<MaximumExceeded> apply_maxima(ParsedRequest& request, const EffectiveLimits& limits) {
    v1::Limits* asked = limits_of(request);
    if (!asked) return std::nullopt;
    for (const MaximumRow& row : kMaximumRows) {
        const std::optional<std::uint64_t>& maximum = limits.*row.maximum;
        const std::uint64_t value = row.get(*asked);
        if (!maximum || value <= *maximum) continue;
        const auto& chosen = request.chosen_limits;
        if (std::find(chosen.begin(), chosen.end(), row.proto) != chosen.end()) {
            row.set(*asked, *maximum);
            continue;
        }
        return MaximumExceeded{http_field_name(std::string("limits.") + row.proto, request.kind), value, *maximum};
    }
    return std::nullopt;
}

void stamp_quota(v1::ClientMessage& message, const EffectiveLimits& limits) {
    v1::Quota& quota = *message.mutable_quota();
    quota.set_max_sessions(narrow(limits.sessions));
    quota.set_max_session_disk_kb(limits.session_disk_kb.value_or(0));
    quota.set_max_cpu_ms(narrow(limits.cpu_ms));
    quota.set_max_wall_ms(narrow(limits.wall_ms));
    quota.set_max_memory_kb(limits.memory_kb.value_or(0));
    quota.set_max_output_bytes(limits.output_bytes.value_or(0));
}

Response maximum_exceeded_response(const MaximumExceeded& excess) { return json_response(403, maximum_body(excess)); }

Response quota_refused_response(const QuotaRefusal& refusal) {
    Response response = json_response(429, refusal_body(refusal));
    response.set(http::field::retry_after, std::to_string(refusal.retry_after_s));
    return response;
}

std::variant<RunSlot, Response> admit_run(Exchange& exchange, ParsedRequest& request) {
    const EffectiveLimits limits = caller_limits(exchange.options, exchange.caller);
    if (auto excess = apply_maxima(request, limits)) {
        exchange.rejected = Reason::quota;
        return maximum_exceeded_response(*excess);
    }
    auto admitted = exchange.options.quotas->admit(exchange.caller.principal, limits);
    if (auto* refused = std::get_if<QuotaRefusal>(&admitted)) {
        exchange.rejected = refused->quota == "runs_per_minute" ? Reason::rate : Reason::quota;
        return quota_refused_response(*refused);
    }
    return std::move(std::get<RunSlot>(admitted));
}

}  // namespace jaild::gateway
