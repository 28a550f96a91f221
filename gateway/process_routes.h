// The processes of a live session (docs/api.md, "Live sessions"): start, list, one's info, its output as NDJSON,
// waiting for its end, its stdin, signals and terminal size. Each forwards the matching request to jaild; the
// attach WebSocket is websocket_attach.h's.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/routes.h"

namespace jaild::gateway {

boost::asio::awaitable<void> handle_process_start(Exchange& exchange);
boost::asio::awaitable<void> handle_process_list(Exchange& exchange);
boost::asio::awaitable<void> handle_process_get(Exchange& exchange);
boost::asio::awaitable<void> handle_process_output(Exchange& exchange);
boost::asio::awaitable<void> handle_process_wait(Exchange& exchange);
boost::asio::awaitable<void> handle_process_stdin(Exchange& exchange);
boost::asio::awaitable<void> handle_process_signal(Exchange& exchange);
boost::asio::awaitable<void> handle_process_resize(Exchange& exchange);

}  // namespace jaild::gateway
