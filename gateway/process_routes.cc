#include "gateway/process_routes.h"

#include <boost/asio/this_coro.hpp>

#include "common/jaild_client.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/live_calls.h"
#include "gateway/live_codec.h"
#include "gateway/quota_admission.h"
#include "gateway/result_rendering.h"

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

std::string lost_line(const std::error_code& ec) {
    return stream_error_line("jaild connection lost before the process's exit: " + ec.message());
}

// jaild's Error while waiting for an exit, or the loss of its connection (502).
HttpError waiting_failed(const std::error_code& ec, const v1::ServerMessage& event) {
    if (!ec) return map_jaild_error(event.error(), RequestKind::session);
    HttpError error;
    error.body = error_body("jaild connection lost before the process's exit: " + ec.message());
    return error;
}

// Sends `message` (one of ProcessInput, ProcessSignal, ProcessResize) and answers 204 once jaild did it.
asio::awaitable<void> answer_done(Exchange& exchange, v1::ClientMessage& message) {
    v1::ServerMessage reply;
    if (!co_await call_jaild(exchange, message, v1::ServerMessage::kDone, reply)) co_return;
    co_await send_no_content(exchange);
}

// Relays an attach connection's output as NDJSON until the process's exit (or jaild's error).
asio::awaitable<void> relay_output(Exchange& exchange, JaildClient& client) {
    OutputLines lines;
    v1::ServerMessage message;
    for (bool ended = false; !ended;) {
        const std::error_code ec = co_await client.async_receive(message);
        std::string text;
        if (ec) {
            ended = true;
            text = ndjson(lines.flush()) + lost_line(ec) + "\n";
        } else {
            text = ndjson(lines.event(message, ended));
        }
        if (text.empty()) continue;
        if (!co_await exchange.responder.chunk(text)) co_return;
    }
    co_await exchange.responder.end_chunked();
}

}  // namespace

asio::awaitable<void> handle_process_start(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    auto target = live_target(exchange, TargetKind::session);
    auto parsed = parse_process_start(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    ParsedRequest request;
    request.kind = RequestKind::session;
    v1::ProcessStart& start = *request.message.mutable_process_start();
    start = std::move(std::get<v1::ProcessStart>(parsed));
    start.set_session_id(std::get<LiveTarget>(target).session_id);
    // A start is a run for the caller's rate and concurrency, held until jaild answers: the process then
    // belongs to the session.
    std::variant<RunSlot, Response> admitted = admit_run(exchange, request);
    if (auto* refused = std::get_if<Response>(&admitted)) {
        co_await exchange.responder.send(std::move(*refused));
        co_return;
    }
    v1::ServerMessage reply;
    if (!co_await call_jaild(exchange, request.message, v1::ServerMessage::kProcess, reply)) co_return;
    const std::string body = process_info_body(reply.process());
    co_await send_json(exchange, 201, body);
}

asio::awaitable<void> handle_process_list(Exchange& exchange) {
    auto target = live_target(exchange, TargetKind::session);
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    message.mutable_process_list()->set_session_id(std::get<LiveTarget>(target).session_id);
    v1::ServerMessage reply;
    if (!co_await call_jaild(exchange, message, v1::ServerMessage::kProcesses, reply)) co_return;
    const std::string body = process_list_body(reply.processes());
    co_await send_json(exchange, 200, body);
}

asio::awaitable<void> handle_process_get(Exchange& exchange) {
    auto target = live_target(exchange, TargetKind::process);
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ProcessInfo info;
    if (!co_await look_up_process(exchange, std::get<LiveTarget>(target), info)) co_return;
    const std::string body = process_info_body(info);
    co_await send_json(exchange, 200, body);
}

// The stream begins once the process is known (404 and 409 are still answers): jaild's first message may be a
// long time coming.
asio::awaitable<void> handle_process_output(Exchange& exchange) {
    auto target = live_target(exchange, TargetKind::process);
    auto flags = parse_query_flags(exchange.request.target(), {"live"});
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    if (auto* error = std::get_if<FieldError>(&flags)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    const LiveTarget& process = std::get<LiveTarget>(target);
    v1::ProcessInfo info;
    if (!co_await look_up_process(exchange, process, info)) co_return;
    v1::ClientMessage message;
    v1::ProcessAttach& attach = *message.mutable_process_attach();
    attach.set_session_id(process.session_id);
    attach.set_pid(process.pid);
    attach.set_live_only(std::get<std::map<std::string, bool>>(flags)["live"]);
    JaildClient client(co_await asio::this_coro::executor);
    if (!co_await send_request(exchange, client, message)) co_return;
    if (!co_await exchange.responder.begin_chunked("application/x-ndjson")) co_return;
    co_await relay_output(exchange, client);
}

asio::awaitable<void> handle_process_wait(Exchange& exchange) {
    auto target = live_target(exchange, TargetKind::process);
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    const LiveTarget& process = std::get<LiveTarget>(target);
    v1::ClientMessage message;
    v1::ProcessAttach& attach = *message.mutable_process_attach();
    attach.set_session_id(process.session_id);
    attach.set_pid(process.pid);
    attach.set_no_output(true);
    JaildClient client(co_await asio::this_coro::executor);
    v1::ServerMessage event;
    if (!co_await open_exchange(exchange, client, message, RequestKind::session, event)) co_return;
    std::error_code ec;
    while (!ec && !event.has_exit() && !event.has_error()) ec = co_await client.async_receive(event);
    client.close();
    if (ec || event.has_error()) {
        const HttpError error = waiting_failed(ec, event);
        Response response = json_response(error.status, error.body, error.retry_after);
        co_await exchange.responder.send(std::move(response));
        co_return;
    }
    v1::ProcessInfo info;
    if (!co_await look_up_process(exchange, process, info)) co_return;
    const std::string body = process_info_body(info);
    co_await send_json(exchange, 200, body);
}

asio::awaitable<void> handle_process_stdin(Exchange& exchange) {
    auto target = live_target(exchange, TargetKind::process);
    auto flags = parse_query_flags(exchange.request.target(), {"eof"});
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    if (auto* error = std::get_if<FieldError>(&flags)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    const LiveTarget& process = std::get<LiveTarget>(target);
    v1::ClientMessage message;
    v1::ProcessInput& input = *message.mutable_process_input();
    input.set_session_id(process.session_id);
    input.set_pid(process.pid);
    input.set_data(exchange.request.body());
    input.set_eof(std::get<std::map<std::string, bool>>(flags)["eof"]);
    co_await answer_done(exchange, message);
}

asio::awaitable<void> handle_process_signal(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    auto target = live_target(exchange, TargetKind::process);
    auto parsed = parse_process_signal(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    v1::ProcessSignal& signal = *message.mutable_process_signal();
    signal = std::move(std::get<v1::ProcessSignal>(parsed));
    signal.set_session_id(std::get<LiveTarget>(target).session_id);
    signal.set_pid(std::get<LiveTarget>(target).pid);
    co_await answer_done(exchange, message);
}

asio::awaitable<void> handle_process_resize(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    auto target = live_target(exchange, TargetKind::process);
    auto parsed = parse_process_resize(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&target)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    v1::ProcessResize& resize = *message.mutable_process_resize();
    resize = std::move(std::get<v1::ProcessResize>(parsed));
    resize.set_session_id(std::get<LiveTarget>(target).session_id);
    resize.set_pid(std::get<LiveTarget>(target).pid);
    co_await answer_done(exchange, message);
}

}  // namespace jaild::gateway
