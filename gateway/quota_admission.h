// The HTTP side of quotas (docs/api.md, "Quotas and rate limits"): which limits a request's caller has, the
// RateLimit fields every answer carries, a run's admission (403 past a maximum, 429 past a quota or a rate),
// and the part of the caller's limits that jaild applies (proto Quota).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "gateway/caller.h"
#include "gateway/cors.h"
#include "gateway/options.h"
#include "gateway/quotas.h"
#include "gateway/request_parsing.h"
#include "gateway/routes.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// The version of draft-ietf-httpapi-ratelimit-headers whose fields the gateway sends.
inline constexpr const char* kRateLimitDraft = "draft-ietf-httpapi-ratelimit-headers-12";

// The caller's tenant overrides over [tenant_defaults] over the built-in values.
EffectiveLimits caller_limits(const GatewayOptions& options, const Caller& caller);

// RateLimit-Policy ("runs";q=<runs per minute>;w=60) and RateLimit ("runs";r=<runs left>;t=<seconds until the
// bucket is full again>) for the caller's principal, as its bucket stands now.
HeaderList rate_limit_fields(const GatewayOptions& options, const Caller& caller);

// A limit the client asked for past its maximum: the field as the request names it.
struct MaximumExceeded {
    std::string field;
    std::uint64_t asked = 0;
    std::uint64_t maximum = 0;
};

// Checks the request's cpu, wall, memory and output limits against the caller's maxima. A limit the gateway
// chose itself (ParsedRequest::chosen_limits) is lowered to the maximum instead; one the request leaves
// unset is jaild's default, which jaild lowers to the maximum (stamp_quota).
std::optional<MaximumExceeded> apply_maxima(ParsedRequest& request, const EffectiveLimits& limits);

// The limits jaild applies for the caller: its sessions, their disk, and the request maxima.
void stamp_quota(v1::ClientMessage& message, const EffectiveLimits& limits);

// The answers: 403 {"error", "field", "maximum"}; 429 {"error", "field": null, "quota"} with Retry-After.
Response maximum_exceeded_response(const MaximumExceeded& excess);
Response quota_refused_response(const QuotaRefusal& refusal);

// A run's admission: the maxima checked, then a concurrency slot and a token taken for the caller; or the
// answer (403 or 429) to send instead, with exchange.rejected saying why. Not a coroutine: the caller sends
// the answer.
std::variant<RunSlot, Response> admit_run(Exchange& exchange, ParsedRequest& request);

}  // namespace jaild::gateway
