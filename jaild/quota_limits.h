// The limits a principal's runs get: jaild's [limits.default] and [limits.max] lowered by the quota its
// client (the gateway, for a tenant) sends. Pure; used to plan a run and to answer a LimitsRequest.
#pragma once

#include "common/config.h"
#include "jaild.pb.h"

namespace jaild {

// A request may ask for no more than the quota's maximum, and one that asks nothing gets the lower of the
// default and that maximum.
struct QuotaLimits {
    LimitSet defaults, maxima;
};

QuotaLimits lowered_limits(const Config& config, const v1::Quota& quota);

// The answer to a LimitsRequest: both sets as protocol Limits.
v1::LimitSets to_proto(const QuotaLimits& limits);

}  // namespace jaild
