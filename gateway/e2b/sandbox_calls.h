// How the E2B sandbox routes (envd_routes, interpreter_routes) talk to jaild: like the native routes, but
// without answering the exchange themselves, since each protocol shapes its own errors (Connect's codes, the
// code interpreter's plain text). Runs on the HTTP connection's strand.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <chrono>
#include <optional>

#include "common/jaild_client.h"
#include "gateway/e2b/connect_codes.h"
#include "gateway/routes.h"
#include "jaild.pb.h"

namespace jaild::gateway::e2b {

// Connects `client` and sends `message`, stamped as every request (jaild_forwarding.h's stamp), for a stream the
// caller reads. The failure as an Error (UNAVAILABLE: jaild cannot be reached) otherwise.
boost::asio::awaitable<std::optional<v1::Error>> open_jaild(Exchange& exchange, JaildClient& client,
                                                            v1::ClientMessage& message);

// One request and its one answer, which must be the `expected` kind: jaild's Error otherwise, or one made up
// (UNAVAILABLE when jaild cannot be reached or closed, INTERNAL for an unexpected answer).
boost::asio::awaitable<std::optional<v1::Error>> ask_jaild(Exchange& exchange, v1::ClientMessage& message,
                                                           v1::ServerMessage::KindCase expected,
                                                           v1::ServerMessage& reply);

// envd's RPCs and REST calls speak Connect's codes: ask_jaild with jaild's Error as a Connect error.
boost::asio::awaitable<std::optional<ConnectError>> ask_envd(Exchange& exchange, v1::ClientMessage& message,
                                                             v1::ServerMessage::KindCase expected,
                                                             v1::ServerMessage& reply);

// Answers in E2B's shapes. GCC 12 coroutines (docs/development.md): they take views and copy them, so callers
// pass no temporary. A unary Connect error (its HTTP status, {"code": "<name>", "message"}); E2B's REST and
// control-plane error ({"code": <status>, "message"}; Retry-After on 429 and 503); a stream that fails before
// its first event (200 and a lone end-of-stream error, as envd's connect-go does).
boost::asio::awaitable<void> send_unary_error(Exchange& exchange, ConnectCode code, std::string_view message);
boost::asio::awaitable<void> send_plain_error(Exchange& exchange, unsigned status, std::string_view message);
boost::asio::awaitable<void> stream_error(Exchange& exchange, const ConnectError& error);

// Whether jaild's next message is there to read before `interval` passes. Waiting for readability (not
// reading) is what the timer may cancel: a frame is never cut in half.
boost::asio::awaitable<bool> readable_within(JaildClient& client, std::chrono::milliseconds interval);

// Whether a handler's cancellation state (co_await this_coro::cancellation_state) says it was cancelled: its
// client hung up (HttpConnection's watch) or the gateway stops. Not an awaitable: co_await of one throws once
// cancelled, unless the handler turned that off (this_coro::throw_if_cancelled(false)).
bool cancelled(const boost::asio::cancellation_state& state);

}  // namespace jaild::gateway::e2b
