// The interpreter contexts of a live session (docs/api.md, "Live sessions"): create, list, delete, interrupt
// and restart one, and run a cell in it with its events streamed as NDJSON. Each forwards the matching request
// to jaild.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/routes.h"

namespace jaild::gateway {

boost::asio::awaitable<void> handle_context_create(Exchange& exchange);
boost::asio::awaitable<void> handle_context_list(Exchange& exchange);
boost::asio::awaitable<void> handle_context_delete(Exchange& exchange);
boost::asio::awaitable<void> handle_context_interrupt(Exchange& exchange);
boost::asio::awaitable<void> handle_context_restart(Exchange& exchange);
boost::asio::awaitable<void> handle_context_run(Exchange& exchange);

}  // namespace jaild::gateway
