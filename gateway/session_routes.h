// The /sessions routes: session create/list/get/delete, env and cwd, and the session's files. Each forwards
// one request to jaild and answers with its one reply (runs in a session go through forward_run instead).
// Seed 002's POST /run {"user_id"} lives here too: it runs in the user's named session.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/request_parsing.h"
#include "gateway/routes.h"

namespace jaild::gateway {

boost::asio::awaitable<void> handle_session_create(Exchange& exchange);
boost::asio::awaitable<void> handle_session_list(Exchange& exchange);
boost::asio::awaitable<void> handle_session_get(Exchange& exchange);
boost::asio::awaitable<void> handle_session_delete(Exchange& exchange);
boost::asio::awaitable<void> handle_session_env(Exchange& exchange);
boost::asio::awaitable<void> handle_session_cwd(Exchange& exchange);
boost::asio::awaitable<void> handle_session_timeout(Exchange& exchange);  // a live session's deadline
boost::asio::awaitable<void> handle_file_list(Exchange& exchange);
boost::asio::awaitable<void> handle_file_get(Exchange& exchange);
boost::asio::awaitable<void> handle_file_put(Exchange& exchange);
boost::asio::awaitable<void> handle_file_delete(Exchange& exchange);

// Seed 002: finds or creates the session named request.user_id, then runs the request in it; the answer
// carries workspace_files.
boost::asio::awaitable<void> forward_user_run(Exchange& exchange, ParsedRequest request, bool stream);

}  // namespace jaild::gateway
