// What the live routes share (process_routes, context_routes, websocket_attach): the URL's session id and pid
// or context id, the 400 and 204 answers, one request to jaild and its expected answer, and the look-up of the
// process or context a URL names before a stream or an upgrade begins.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <variant>

#include "gateway/request_parsing.h"
#include "gateway/routes.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// What a live route's URL names.
struct LiveTarget {
    std::string session_id;
    std::uint32_t pid = 0;   // routes with {pid}
    std::string context_id;  // routes with {ctx}
};
enum class TargetKind { session, process, context };

// The URL's {id} and then {pid} or {ctx}, decoded (400 when one is not valid UTF-8 or not a pid).
std::variant<LiveTarget, FieldError> live_target(const Exchange& exchange, TargetKind kind);

boost::asio::awaitable<void> send_field_error(Exchange& exchange, const FieldError& error);
boost::asio::awaitable<void> send_no_content(Exchange& exchange);

// Sends `message` and receives jaild's one answer, which must be the `expected` kind. Answers the exchange
// itself (jaild's error mapped: 404, 409, 429...; or 502) and returns false otherwise.
boost::asio::awaitable<bool> call_jaild(Exchange& exchange, v1::ClientMessage& message,
                                        v1::ServerMessage::KindCase expected, v1::ServerMessage& reply);

// The process target.pid of the session (a listing): answers 404 itself when the session has no such process.
boost::asio::awaitable<bool> look_up_process(Exchange& exchange, const LiveTarget& target, v1::ProcessInfo& info);
// The same for target.context_id.
boost::asio::awaitable<bool> look_up_context(Exchange& exchange, const LiveTarget& target);

}  // namespace jaild::gateway
