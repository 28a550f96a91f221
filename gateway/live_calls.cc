#include "gateway/live_calls.h"

#include "gateway/context_codec.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/live_codec.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

std::string unexpected_body() { return error_body("jaild answered with an unexpected message"); }

std::string missing_process_body(const LiveTarget& target) {
    return error_body("no process " + std::to_string(target.pid) + " in session " + target.session_id);
}

std::string missing_context_body(const LiveTarget& target) {
    return error_body("no context " + target.context_id + " in session " + target.session_id);
}

}  // namespace

std::variant<LiveTarget, FieldError> live_target(const Exchange& exchange, TargetKind kind) {
    LiveTarget target;
    auto id = decode_url_param(exchange.params.at(0), "session_id", "the session id");
    if (auto* error = std::get_if<FieldError>(&id)) return *error;
    target.session_id = std::move(std::get<std::string>(id));
    if (kind == TargetKind::process) {
        auto pid = parse_pid(exchange.params.at(1));
        if (auto* error = std::get_if<FieldError>(&pid)) return *error;
        target.pid = std::get<std::uint32_t>(pid);
    } else if (kind == TargetKind::context) {
        auto context = decode_url_param(exchange.params.at(1), "context_id", "the context id");
        if (auto* error = std::get_if<FieldError>(&context)) return *error;
        target.context_id = std::move(std::get<std::string>(context));
    }
    return target;
}

asio::awaitable<void> send_field_error(Exchange& exchange, const FieldError& error) {
    const std::string body = error_body(error.message, error.field);
    co_await send_json(exchange, 400, body);
}

asio::awaitable<void> send_no_content(Exchange& exchange) {
    Response response{http::status::no_content, 11};
    co_await exchange.responder.send(std::move(response));
}

asio::awaitable<bool> call_jaild(Exchange& exchange, v1::ClientMessage& message, v1::ServerMessage::KindCase expected,
                                 v1::ServerMessage& reply) {
    const bool answered = co_await request_reply(exchange, message, RequestKind::session, reply);
    const bool expected_kind = answered && answer_is(reply, expected);
    if (answered && !expected_kind) {
        const std::string body = unexpected_body();
        co_await send_json(exchange, 502, body);
    }
    co_return expected_kind;
}

asio::awaitable<bool> look_up_process(Exchange& exchange, const LiveTarget& target, v1::ProcessInfo& info) {
    v1::ClientMessage message;
    message.mutable_process_list()->set_session_id(target.session_id);
    v1::ServerMessage reply;
    const bool listed = co_await call_jaild(exchange, message, v1::ServerMessage::kProcesses, reply);
    const v1::ProcessInfo* found = listed ? find_process(reply.processes(), target.pid) : nullptr;
    if (found) info = *found;
    if (listed && !found) {
        const std::string body = missing_process_body(target);
        co_await send_json(exchange, 404, body);
    }
    co_return found != nullptr;
}

asio::awaitable<bool> look_up_context(Exchange& exchange, const LiveTarget& target) {
    v1::ClientMessage message;
    message.mutable_context_list()->set_session_id(target.session_id);
    v1::ServerMessage reply;
    const bool listed = co_await call_jaild(exchange, message, v1::ServerMessage::kContexts, reply);
    const bool found = listed && has_context(reply.contexts(), target.context_id);
    if (listed && !found) {
        const std::string body = missing_context_body(target);
        co_await send_json(exchange, 404, body);
    }
    co_return found;
}

}  // namespace jaild::gateway
