#include "gateway/context_routes.h"

#include <boost/asio/this_coro.hpp>

#include "common/jaild_client.h"
#include "gateway/context_codec.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/live_calls.h"
#include "gateway/quota_admission.h"

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

// The requests that name a context and answer Done: delete, interrupt, restart.
template <class Request>
void name_context(Request& request, const LiveTarget& target) {
    request.set_session_id(target.session_id);
    request.set_context_id(target.context_id);
}
void fill_delete(v1::ClientMessage& message, const LiveTarget& target) {
    name_context(*message.mutable_context_delete(), target);
}
void fill_interrupt(v1::ClientMessage& message, const LiveTarget& target) {
    name_context(*message.mutable_context_interrupt(), target);
}
void fill_restart(v1::ClientMessage& message, const LiveTarget& target) {
    name_context(*message.mutable_context_restart(), target);
}

// A body-less command on one context (an empty body or {} is accepted): 204 once jaild did it.
asio::awaitable<void> context_command(Exchange& exchange, void (*fill)(v1::ClientMessage&, const LiveTarget&)) {
    const bool has_body = exchange.request.body().find_first_not_of(" \t\r\n") != std::string::npos;
    if (has_body) {
        if (!co_await require_json(exchange)) co_return;
    }
    auto target = live_target(exchange, TargetKind::context);
    std::optional<FieldError> body_error = parse_empty_body(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&target)) body_error = *error;
    if (body_error) {
        co_await send_field_error(exchange, *body_error);
        co_return;
    }
    v1::ClientMessage message;
    fill(message, std::get<LiveTarget>(target));
    v1::ServerMessage reply;
    if (!co_await call_jaild(exchange, message, v1::ServerMessage::kDone, reply)) co_return;
    co_await send_no_content(exchange);
}

// Relays a cell's events as NDJSON until its end.
asio::awaitable<void> relay_cell(Exchange& exchange, JaildClient& client) {
    CellLines lines;
    v1::ServerMessage message;
    for (bool ended = false; !ended;) {
        const std::error_code ec = co_await client.async_receive(message);
        std::string text;
        if (ec) {
            ended = true;
            const std::string why = "jaild connection lost before the cell's end: " + ec.message();
            text = ndjson(lines.lost(why));
        } else {
            text = ndjson(lines.event(message, ended));
        }
        if (text.empty()) continue;
        if (!co_await exchange.responder.chunk(text)) co_return;
    }
    co_await exchange.responder.end_chunked();
}

}  // namespace

asio::awaitable<void> handle_context_create(Exchange& exchange) {
    const bool has_body = exchange.request.body().find_first_not_of(" \t\r\n") != std::string::npos;
    if (has_body) {
        if (!co_await require_json(exchange)) co_return;
    }
    auto target = live_target(exchange, TargetKind::session);
    auto parsed = parse_context_create(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    v1::ContextCreate& create = *message.mutable_context_create();
    create = std::move(std::get<v1::ContextCreate>(parsed));
    create.set_session_id(std::get<LiveTarget>(target).session_id);
    v1::ServerMessage reply;
    if (!co_await call_jaild(exchange, message, v1::ServerMessage::kContext, reply)) co_return;
    const std::string body = context_info_body(reply.context());
    co_await send_json(exchange, 201, body);
}

asio::awaitable<void> handle_context_list(Exchange& exchange) {
    auto target = live_target(exchange, TargetKind::session);
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    message.mutable_context_list()->set_session_id(std::get<LiveTarget>(target).session_id);
    v1::ServerMessage reply;
    if (!co_await call_jaild(exchange, message, v1::ServerMessage::kContexts, reply)) co_return;
    const std::string body = context_list_body(reply.contexts());
    co_await send_json(exchange, 200, body);
}

asio::awaitable<void> handle_context_delete(Exchange& exchange) { co_await context_command(exchange, &fill_delete); }

asio::awaitable<void> handle_context_interrupt(Exchange& exchange) {
    co_await context_command(exchange, &fill_interrupt);
}

asio::awaitable<void> handle_context_restart(Exchange& exchange) { co_await context_command(exchange, &fill_restart); }

// A cell is a run for the caller's rate and concurrency, held while it runs. Its stream begins once the context
// is known (404 and 409 are still answers): the first cell starts the interpreter, and a cell may print
// nothing for a long time.
asio::awaitable<void> handle_context_run(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    auto target = live_target(exchange, TargetKind::context);
    auto parsed = parse_context_run(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    const LiveTarget& context = std::get<LiveTarget>(target);
    ParsedRequest request;
    request.kind = RequestKind::session;
    v1::ContextRun& run = *request.message.mutable_context_run();
    run = std::move(std::get<v1::ContextRun>(parsed));
    name_context(run, context);
    std::variant<RunSlot, Response> admitted = admit_run(exchange, request);
    if (auto* refused = std::get_if<Response>(&admitted)) {
        co_await exchange.responder.send(std::move(*refused));
        co_return;
    }
    if (!co_await look_up_context(exchange, context)) co_return;
    JaildClient client(co_await asio::this_coro::executor);
    if (!co_await send_request(exchange, client, request.message)) co_return;
    if (!co_await exchange.responder.begin_chunked("application/x-ndjson")) co_return;
    co_await relay_cell(exchange, client);
}

}  // namespace jaild::gateway
