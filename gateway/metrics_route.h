// GET /metrics: asks jaild for its counters (one StatsRequest, answered within a second or taken as
// unreachable) and answers the gateway's metrics in the Prometheus text format, 200 either way.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/routes.h"

namespace jaild::gateway {

boost::asio::awaitable<void> handle_metrics(Exchange& exchange);

}  // namespace jaild::gateway
