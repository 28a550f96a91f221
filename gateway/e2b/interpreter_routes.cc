#include "gateway/e2b/interpreter_routes.h"

#include <boost/asio/this_coro.hpp>
#include <chrono>

#include "common/jaild_client.h"
#include "gateway/context_codec.h"
#include "gateway/e2b/entry_info.h"
#include "gateway/e2b/envd_request.h"
#include "gateway/e2b/interpreter_codec.h"
#include "gateway/e2b/sandbox_calls.h"
#include "gateway/quota_admission.h"

namespace jaild::gateway::e2b {

namespace asio = boost::asio;

namespace {

// E2B's interpreter sends a keepalive line every 5 s while a cell is silent; a client may ask for less
// (Keepalive-Ping-Interval, whole seconds).
constexpr std::chrono::seconds kKeepalive{5};
// How long abandon() waits for the empty cell that ends an env_vars cell's hold (jaild runs it either way).
constexpr std::chrono::seconds kRestoreWait{10};

// GCC 12 coroutines (docs/development.md): callers pass named answers, no temporary.
asio::awaitable<void> send_text(Exchange& exchange, const TextAnswer& answer) {
    Response response{static_cast<http::status>(answer.status), 11};
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = answer.text;
    co_await exchange.responder.send(std::move(response));
}

asio::awaitable<void> send_failure(Exchange& exchange, const v1::Error& error, std::string_view context_id) {
    const TextAnswer answer = jaild_failure(error, context_id);
    co_await send_text(exchange, answer);
}

asio::awaitable<void> send_null(Exchange& exchange) { co_await exchange.responder.send(json_response(200, "null")); }

std::string now_rfc3339() {
    const auto since = std::chrono::system_clock::now().time_since_epoch();
    return rfc3339_utc(std::chrono::duration_cast<std::chrono::nanoseconds>(since).count());
}

asio::awaitable<std::optional<v1::Error>> list(Exchange& exchange, const std::string& sandbox,
                                               v1::ContextInfoList& out) {
    v1::ClientMessage message;
    message.mutable_context_list()->set_session_id(sandbox);
    v1::ServerMessage reply;
    std::optional<v1::Error> error = co_await ask_jaild(exchange, message, v1::ServerMessage::kContexts, reply);
    if (!error) out = std::move(*reply.mutable_contexts());
    co_return error;
}

asio::awaitable<std::optional<v1::Error>> create(Exchange& exchange, const std::string& sandbox, std::string_view cwd,
                                                 v1::ContextInfo& out) {
    v1::ClientMessage message;
    v1::ContextCreate& create = *message.mutable_context_create();
    create.set_session_id(sandbox);
    create.set_language(std::string(kPythonLanguage));
    create.set_cwd(std::string(cwd));
    v1::ServerMessage reply;
    std::optional<v1::Error> error = co_await ask_jaild(exchange, message, v1::ServerMessage::kContext, reply);
    if (!error) out = std::move(*reply.mutable_context());
    co_return error;
}

// The sandbox's contexts, its default one made first when it has none, so that the oldest is always the
// default. Two requests that both found none each made one: the younger is removed by its maker.
// GCC 12 coroutines (docs/development.md): one co_return, after the last co_await. No error means `out` has
// a default context (a context removed meanwhile, or whose interpreter died at once, is an error).
asio::awaitable<std::optional<v1::Error>> contexts_with_default(Exchange& exchange, const std::string& sandbox,
                                                                v1::ContextInfoList& out) {
    std::optional<v1::Error> error = co_await list(exchange, sandbox, out);
    if (!error && !default_context(out)) {
        v1::ContextInfo made;
        error = co_await create(exchange, sandbox, kInterpreterCwd, made);
        if (!error) error = co_await list(exchange, sandbox, out);
        const v1::ContextInfo* oldest = error ? nullptr : default_context(out);
        if (oldest && oldest->context_id() != made.context_id()) {
            v1::ClientMessage message;
            message.mutable_context_delete()->set_session_id(sandbox);
            message.mutable_context_delete()->set_context_id(made.context_id());
            v1::ServerMessage reply;
            error = co_await ask_jaild(exchange, message, v1::ServerMessage::kDone, reply);
            if (!error) error = co_await list(exchange, sandbox, out);
        }
    }
    if (!error && !default_context(out)) {
        error.emplace();
        error->set_code(v1::ERROR_CODE_UNAVAILABLE);
        error->set_message("the sandbox's default context went away as it was made; try again");
    }
    co_return error;
}

v1::ClientMessage cell(const std::string& sandbox, const std::string& context_id, std::string code) {
    v1::ClientMessage message;
    v1::ContextRun& run = *message.mutable_context_run();
    run.set_session_id(sandbox);
    run.set_context_id(context_id);
    run.set_code(std::move(code));
    return message;
}

struct CellOutcome {
    bool sent = false;   // jaild has the cell
    bool ended = false;  // and it ended
    bool client_there = true;
    std::string error_lines;  // a hidden cell's error, as lines
};

v1::Error closed_error(const std::error_code& ec) {
    v1::Error error;
    error.set_code(v1::ERROR_CODE_UNAVAILABLE);
    error.set_message("jaild closed the cell's stream: " + ec.message());
    return error;
}

// Runs a cell and streams its lines; of a hidden cell (env_vars), only keepalives, its error kept aside.
// Keepalives whenever jaild is silent for `interval`.
asio::awaitable<CellOutcome> stream_cell(Exchange& exchange, v1::ClientMessage message, bool hidden,
                                         std::chrono::seconds interval) {
    CellOutcome outcome;
    ExecutionLines lines;
    JaildClient client(co_await asio::this_coro::executor);
    std::optional<v1::Error> failure = co_await open_jaild(exchange, client, message);
    outcome.sent = !failure;
    v1::ServerMessage event;
    // GCC 12 coroutines (docs/development.md): one co_return, after the last co_await.
    for (bool ended = failure.has_value(); !ended;) {
        const bool ready = co_await readable_within(client, interval);
        if (cancelled(co_await asio::this_coro::cancellation_state)) {
            outcome.client_there = false;
            break;
        }
        std::string text = ExecutionLines::keepalive();
        if (ready) {
            const std::error_code ec = co_await client.async_receive(event);
            if (ec || event.has_error()) {
                failure = ec ? closed_error(ec) : event.error();
                break;
            }
            text = lines.event(event, now_rfc3339(), ended);
            if (hidden && event.has_cell_error())
                outcome.error_lines +=
                    error_line(event.cell_error().name(), event.cell_error().value(), event.cell_error().traceback()) +
                    "\n";
            if (hidden) text.clear();
        }
        outcome.ended = ended;
        if (text.empty()) continue;
        const bool delivered = co_await exchange.responder.chunk(std::move(text));
        if (!delivered) {
            outcome.client_there = false;
            break;
        }
    }
    if (failure && hidden && outcome.client_there)
        outcome.error_lines += error_line("JaildError", failure->message(), "") + "\n";
    if (failure && !hidden && outcome.client_there) {
        std::string lost = lines.lost(failure->message(), now_rfc3339());
        const bool delivered = co_await exchange.responder.chunk(std::move(lost));
        if (!delivered) outcome.client_there = false;
    }
    co_return outcome;
}

// A cell whose client left. The cell, once jaild has it, is interrupted: its end puts its env_vars back. When
// the client left before it was sent, an empty cell ends the env_vars cell's hold instead (run within
// kRestoreWait; jaild runs it after that anyway). The handler may have been cancelled (HttpConnection's watch
// saw the hang-up): execute() runs with throw_if_cancelled(false), so it can still talk to jaild.
asio::awaitable<void> abandon(Exchange& exchange, const std::string& sandbox, const std::string& context_id,
                              bool cell_sent, bool env) {
    v1::ServerMessage reply;
    if (cell_sent) {
        v1::ClientMessage interrupt;
        interrupt.mutable_context_interrupt()->set_session_id(sandbox);
        interrupt.mutable_context_interrupt()->set_context_id(context_id);
        co_await ask_jaild(exchange, interrupt, v1::ServerMessage::kDone, reply);
    }
    if (cell_sent || !env) co_return;
    v1::ClientMessage empty = cell(sandbox, context_id, "");
    JaildClient client(co_await asio::this_coro::executor);
    if (co_await open_jaild(exchange, client, empty)) co_return;
    const auto deadline = std::chrono::steady_clock::now() + kRestoreWait;
    for (auto now = std::chrono::steady_clock::now(); now < deadline; now = std::chrono::steady_clock::now()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        if (!co_await readable_within(client, left)) break;
        if (co_await client.async_receive(reply) || reply.has_cell_end() || reply.has_error()) break;
    }
}

// Its context named or the default, admitted as a run (as the native cells), then streamed: the env_vars
// cell (hidden), then the cell.
asio::awaitable<void> execute(Exchange& exchange, const std::string& sandbox) {
    // A hang-up must not end this handler before the cell is interrupted: cancellation is checked, not thrown.
    co_await asio::this_coro::throw_if_cancelled(false);
    auto parsed = parse_execute(exchange.request.body());
    if (auto* refused = std::get_if<TextAnswer>(&parsed)) {
        co_await send_text(exchange, *refused);
        co_return;
    }
    ExecuteRequest& request = std::get<ExecuteRequest>(parsed);
    ParsedRequest run;
    run.kind = RequestKind::session;
    run.message = cell(sandbox, request.context_id, request.code);
    std::variant<RunSlot, Response> admitted = admit_run(exchange, run);
    if (auto* refused = std::get_if<Response>(&admitted)) {
        co_await exchange.responder.send(std::move(*refused));
        co_return;
    }
    v1::ContextInfoList contexts;
    const bool named = !request.context_id.empty();
    std::optional<v1::Error> error;
    if (named)
        error = co_await list(exchange, sandbox, contexts);
    else
        error = co_await contexts_with_default(exchange, sandbox, contexts);
    if (error) {
        co_await send_failure(exchange, *error, request.context_id);
        co_return;
    }
    if (named && !has_context(contexts, request.context_id)) {
        const TextAnswer missing = context_not_found(request.context_id);
        co_await send_text(exchange, missing);
        co_return;
    }
    const std::string context_id = named ? request.context_id : default_context(contexts)->context_id();
    const std::chrono::seconds interval = keepalive_interval(exchange.request["Keepalive-Ping-Interval"], kKeepalive);
    const bool env = !request.env_vars.empty();
    if (!co_await exchange.responder.begin_chunked("application/x-ndjson")) co_return;
    CellOutcome outcome;
    if (env) {
        // GCC 12 coroutines (docs/development.md): the cell is a named local, not a temporary of the co_await.
        v1::ClientMessage env_cell = cell(sandbox, context_id, env_set_cell(request.env_vars));
        outcome = co_await stream_cell(exchange, std::move(env_cell), true, interval);
    }
    bool cell_sent = false;  // jaild has it and it runs: only then is there a cell to interrupt
    if (!outcome.error_lines.empty()) {
        outcome.error_lines += "{\"type\":\"end_of_execution\"}\n";
        if (!co_await exchange.responder.chunk(std::move(outcome.error_lines))) outcome.client_there = false;
    } else if (outcome.client_there) {
        v1::ClientMessage user_cell = cell(sandbox, context_id, std::move(request.code));
        outcome = co_await stream_cell(exchange, std::move(user_cell), false, interval);
        cell_sent = outcome.sent && !outcome.ended;
    }
    if (!outcome.client_there) {
        co_await abandon(exchange, sandbox, context_id, cell_sent, env);
        co_return;
    }
    co_await exchange.responder.end_chunked();
}

asio::awaitable<void> create_context(Exchange& exchange, const std::string& sandbox) {
    auto parsed = parse_context_create(exchange.request.body());
    if (auto* refused = std::get_if<TextAnswer>(&parsed)) {
        co_await send_text(exchange, *refused);
        co_return;
    }
    v1::ContextInfoList contexts;
    std::optional<v1::Error> error = co_await contexts_with_default(exchange, sandbox, contexts);
    v1::ContextInfo made;
    if (!error) error = co_await create(exchange, sandbox, std::get<std::string>(parsed), made);
    if (error) {
        co_await send_failure(exchange, *error, {});
        co_return;
    }
    const std::string body = context_json(made);
    co_await exchange.responder.send(json_response(200, body));
}

asio::awaitable<void> list_contexts(Exchange& exchange, const std::string& sandbox) {
    v1::ContextInfoList contexts;
    if (const auto error = co_await contexts_with_default(exchange, sandbox, contexts)) {
        co_await send_failure(exchange, *error, {});
        co_return;
    }
    const std::string body = context_list_json(contexts);
    co_await exchange.responder.send(json_response(200, body));
}

// DELETE /contexts/{id} and POST /contexts/{id}/restart: 200 null, as E2B's FastAPI answers None.
asio::awaitable<void> context_command(Exchange& exchange, const std::string& sandbox, const std::string& context_id,
                                      bool restart) {
    v1::ClientMessage message;
    if (restart) {
        message.mutable_context_restart()->set_session_id(sandbox);
        message.mutable_context_restart()->set_context_id(context_id);
    } else {
        message.mutable_context_delete()->set_session_id(sandbox);
        message.mutable_context_delete()->set_context_id(context_id);
    }
    v1::ServerMessage reply;
    if (const auto error = co_await ask_jaild(exchange, message, v1::ServerMessage::kDone, reply)) {
        co_await send_failure(exchange, *error, context_id);
        co_return;
    }
    co_await send_null(exchange);
}

}  // namespace

asio::awaitable<void> handle_interpreter_call(Exchange& exchange, const std::string& sandbox_id) {
    const std::string_view target = exchange.request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const http::verb method = exchange.request.method();
    constexpr std::string_view kContexts = "/contexts/";
    constexpr std::string_view kRestart = "/restart";
    std::string_view id = path.starts_with(kContexts) ? path.substr(kContexts.size()) : std::string_view();
    const bool restart = id.ends_with(kRestart);
    if (restart) id.remove_suffix(kRestart.size());
    const bool names_context = !id.empty() && id.find('/') == std::string_view::npos;
    std::string_view allowed;
    if (path == "/execute")
        allowed = "POST";
    else if (path == "/contexts")
        allowed = "GET, POST";
    else if (names_context)
        allowed = restart ? "POST" : "DELETE";
    if (path == "/execute" && method == http::verb::post) {
        co_await execute(exchange, sandbox_id);
    } else if (path == "/contexts" && method == http::verb::post) {
        co_await create_context(exchange, sandbox_id);
    } else if (path == "/contexts" && method == http::verb::get) {
        co_await list_contexts(exchange, sandbox_id);
    } else if (names_context && method == (restart ? http::verb::post : http::verb::delete_)) {
        const std::string context_id(id);
        co_await context_command(exchange, sandbox_id, context_id, restart);
    } else if (!allowed.empty()) {
        const TextAnswer answer{405, "method not allowed; allowed: " + std::string(allowed)};
        co_await send_text(exchange, answer);
    } else {
        const TextAnswer answer{404, "no such code interpreter endpoint: " + std::string(path)};
        co_await send_text(exchange, answer);
    }
}

}  // namespace jaild::gateway::e2b
