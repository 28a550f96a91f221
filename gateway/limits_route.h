// GET /limits: what the caller's runs get when they name no limit, the most they may ask for (jaild's
// configuration lowered by the caller's tenant, from one LimitsRequest), the script dialect's own defaults,
// and the caller's quotas. The playground shows them beside its limit fields (docs/api.md).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "gateway/quotas.h"
#include "gateway/routes.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// Pure: the answer's JSON body from jaild's LimitSets and the caller's quotas; `tenant` empty for a caller
// without a key.
std::string limits_body(const v1::LimitSets& sets, const EffectiveLimits& quotas, const std::string& tenant);

boost::asio::awaitable<void> handle_limits(Exchange& exchange);

}  // namespace jaild::gateway
