#include "gateway/e2b/control_routes.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "common/jaild_client.h"
#include "gateway/e2b/control_codec.h"
#include "gateway/e2b/sandbox_tokens.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"

namespace jaild::gateway::e2b {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// What each unsupported route lacks, by its pattern's distinctive part.
struct Unsupported {
    std::string_view part;
    std::string_view message;
};
constexpr Unsupported kUnsupported[] = {
    {"/pause", "pausing is not supported by jaild: a sandbox runs until it is killed or times out"},
    {"/resume", "resuming is not supported by jaild: sandboxes are never paused"},
    {"/snapshots", "snapshots are not supported by jaild"},
    {"/fork", "forking a sandbox is not supported by jaild"},
    {"/network", "network rules are not supported by jaild: sandboxes have no network"},
    {"/metrics", "sandbox metrics are not supported by jaild"},
    {"/logs", "sandbox logs are not supported by jaild"},
    {"/templates", "templates are not supported by jaild: use \"base\" or \"code-interpreter-v1\""},
    {"/volumes", "volumes are not supported by jaild"},
};

std::string not_found_message(std::string_view id) {
    return "Sandbox \"" + sanitize_utf8(id) + "\" doesn't exist or you don't have access to it";
}

// GCC 12 coroutines (docs/development.md): takes a view and copies it, so callers pass no temporary
asio::awaitable<void> send_error(Exchange& exchange, unsigned status, std::string_view message) {
    const E2bError error{status, std::string(message)};
    const std::string body = error_body(error);
    co_await exchange.responder.send(json_response(status, body, status == 429 || status == 503));
}

asio::awaitable<void> send_no_content(Exchange& exchange) {
    Response response{http::status::no_content, 11};
    co_await exchange.responder.send(std::move(response));
}

// One request to jaild and its answer of kind `expected`. Answers the exchange itself otherwise: jaild's
// errors with their HTTP status (a missing session as E2B's 404), a wrong answer as 502.
// GCC 12 coroutines (docs/development.md): one co_return, after the last co_await.
asio::awaitable<bool> call(Exchange& exchange, v1::ClientMessage& message, v1::ServerMessage::KindCase expected,
                           v1::ServerMessage& reply, std::string_view sandbox_id = {}) {
    JaildClient client(co_await asio::this_coro::executor);
    const bool sent = co_await send_request(exchange, client, message);  // answers the exchange when not
    std::error_code ec;
    if (sent) ec = co_await client.async_receive(reply);
    client.close();
    const bool ok = sent && !ec && answer_is(reply, expected);
    unsigned status = 0;
    std::string why;
    if (!sent || ok) {
        // answered already, or nothing to answer
    } else if (ec) {
        status = 503;
        why = "jaild closed the connection before answering: " + ec.message();
    } else if (!reply.has_error()) {
        status = 502;
        why = "jaild answered with an unexpected message";
    } else {
        status = map_jaild_error(reply.error(), RequestKind::session).status;
        why = reply.error().message();
        // A session that is not live is no sandbox: FAILED_PRECONDITION on a live-only request means the same.
        if (status == 404 || (status == 409 && !sandbox_id.empty())) {
            status = 404;
            why = not_found_message(sandbox_id);
        }
    }
    if (status != 0) co_await send_error(exchange, status, why);
    co_return ok;
}

// A body, when there is one, must be JSON (the SDK always says application/json); answers 415 otherwise.
asio::awaitable<bool> json_body(Exchange& exchange) {
    const std::string_view body = exchange.request.body();
    const std::string_view type = exchange.request[http::field::content_type];
    const bool ok = body.find_first_not_of(" \t\r\n") == std::string_view::npos || type.starts_with("application/json");
    if (!ok) co_await send_error(exchange, 415, "Content-Type must be application/json");
    co_return ok;
}

SandboxView view_of(const Exchange& exchange, const v1::SessionInfo& info) {
    SandboxView view;
    view.sandbox_id = info.session_id();
    view.started_unix_ms = info.created_unix_ms();
    view.end_unix_ms = info.deadline_unix_ms() != 0 ? info.deadline_unix_ms() : info.expires_unix_ms();
    view.disk_mb = info.quota_bytes() / (1024 * 1024);
    read_sandbox_labels(std::map<std::string, std::string>(info.labels().begin(), info.labels().end()), view);
    const SandboxTokens& tokens = *exchange.options.e2b_tokens;
    view.envd_access_token = tokens.mint(TokenKind::envd, exchange.caller.principal, info.session_id());
    view.traffic_access_token = tokens.mint(TokenKind::traffic, exchange.caller.principal, info.session_id());
    return view;
}

// The live session {id} names, or the exchange answered (404 for a session that is not live).
// GCC 12 coroutines (docs/development.md): one co_return, after the last co_await.
asio::awaitable<std::optional<v1::SessionInfo>> find_sandbox(Exchange& exchange) {
    auto id = decode_url_param(exchange.params.at(0), "sandboxID", "the sandbox id");
    const FieldError* bad_id = std::get_if<FieldError>(&id);
    if (bad_id) co_await send_error(exchange, 400, bad_id->message);
    const std::string sandbox_id = bad_id ? std::string() : std::get<std::string>(id);
    v1::ClientMessage message;
    message.mutable_session_get()->set_session_id(sandbox_id);
    v1::ServerMessage reply;
    bool found = false;
    if (!bad_id) found = co_await call(exchange, message, v1::ServerMessage::kSession, reply, sandbox_id);
    const bool live = found && reply.session().live();
    if (found && !live) {
        const std::string missing = not_found_message(sandbox_id);
        co_await send_error(exchange, 404, missing);
    }
    std::optional<v1::SessionInfo> info;
    if (live) info = reply.session();
    co_return info;
}

// Moves the deadline to `seconds` from now; the session's info after, or the exchange answered.
asio::awaitable<std::optional<v1::SessionInfo>> set_deadline(Exchange& exchange, const std::string& id,
                                                             std::uint64_t seconds) {
    v1::ClientMessage message;
    message.mutable_session_set_timeout()->set_session_id(id);
    message.mutable_session_set_timeout()->set_timeout_ms(seconds * 1000);
    v1::ServerMessage reply;
    const bool ok = co_await call(exchange, message, v1::ServerMessage::kSession, reply, id);
    std::optional<v1::SessionInfo> info;
    if (ok) info = reply.session();
    co_return info;
}

}  // namespace

asio::awaitable<void> handle_sandbox_create(Exchange& exchange) {
    if (!co_await json_body(exchange)) co_return;
    auto parsed = parse_new_sandbox(exchange.request.body());
    if (auto* error = std::get_if<E2bError>(&parsed)) {
        co_await send_error(exchange, error->status, error->message);
        co_return;
    }
    const NewSandbox& sandbox = std::get<NewSandbox>(parsed);
    v1::ClientMessage message;
    v1::SessionCreate& create = *message.mutable_session_create();
    create.set_live(true);
    create.set_timeout_ms(sandbox.timeout_s * 1000);
    for (const auto& [key, value] : sandbox.env_vars) (*create.mutable_env())[key] = value;
    for (const auto& [key, value] : sandbox_labels(sandbox)) (*create.mutable_labels())[key] = value;
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kSession, reply)) co_return;
    const SandboxView view = view_of(exchange, reply.session());
    const std::string body = json::serialize(sandbox_json(view));
    co_await exchange.responder.send(json_response(201, body));
}

asio::awaitable<void> handle_sandbox_list(Exchange& exchange) {
    auto query = parse_list_query(exchange.request.target());
    if (auto* error = std::get_if<E2bError>(&query)) {
        co_await send_error(exchange, error->status, error->message);
        co_return;
    }
    v1::ClientMessage message;
    message.mutable_session_list();
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kSessions, reply)) co_return;
    std::vector<SandboxView> all;
    for (const v1::SessionInfo& info : reply.sessions().sessions())
        if (info.live()) all.push_back(view_of(exchange, info));
    const Page page = page_sandboxes(std::move(all), std::get<ListQuery>(query));
    json::array items;
    for (const SandboxView& view : page.items) items.emplace_back(sandbox_detail_json(view, false));
    Response response = json_response(200, json::serialize(items));
    if (!page.next.empty()) response.set("X-Next-Token", page.next);
    co_await exchange.responder.send(std::move(response));
}

asio::awaitable<void> handle_sandbox_connect(Exchange& exchange) {
    if (!co_await json_body(exchange)) co_return;
    auto timeout = parse_connect(exchange.request.body());
    if (auto* error = std::get_if<E2bError>(&timeout)) {
        co_await send_error(exchange, error->status, error->message);
        co_return;
    }
    std::optional<v1::SessionInfo> info = co_await find_sandbox(exchange);
    if (!info) co_return;
    // Connecting to a running sandbox only ever extends its life, as E2B does.
    const std::uint64_t seconds = std::get<std::optional<std::uint64_t>>(timeout).value_or(kDefaultTimeoutS);
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const std::int64_t wanted = now_ms + static_cast<std::int64_t>(seconds) * 1000;
    if (info->deadline_unix_ms() != 0 && info->deadline_unix_ms() < wanted) {
        info = co_await set_deadline(exchange, info->session_id(), seconds);
        if (!info) co_return;
    }
    const std::string body = json::serialize(sandbox_json(view_of(exchange, *info)));
    co_await exchange.responder.send(json_response(200, body));
}

asio::awaitable<void> handle_sandbox_get(Exchange& exchange) {
    const std::optional<v1::SessionInfo> info = co_await find_sandbox(exchange);
    if (!info) co_return;
    const std::string body = json::serialize(sandbox_detail_json(view_of(exchange, *info), true));
    co_await exchange.responder.send(json_response(200, body));
}

asio::awaitable<void> handle_sandbox_kill(Exchange& exchange) {
    const std::optional<v1::SessionInfo> info = co_await find_sandbox(exchange);
    if (!info) co_return;
    v1::ClientMessage message;
    message.mutable_session_delete()->set_session_id(info->session_id());
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kDone, reply, info->session_id())) co_return;
    co_await send_no_content(exchange);
}

asio::awaitable<void> handle_sandbox_timeout(Exchange& exchange) {
    if (!co_await json_body(exchange)) co_return;
    auto seconds = parse_set_timeout(exchange.request.body());
    if (auto* error = std::get_if<E2bError>(&seconds)) {
        co_await send_error(exchange, error->status, error->message);
        co_return;
    }
    const std::optional<v1::SessionInfo> info = co_await find_sandbox(exchange);
    if (!info) co_return;
    if (!co_await set_deadline(exchange, info->session_id(), std::get<std::uint64_t>(seconds))) co_return;
    co_await send_no_content(exchange);
}

asio::awaitable<void> handle_sandbox_unsupported(Exchange& exchange) {
    std::string message = "this E2B call is not supported by jaild";
    for (const Unsupported& row : kUnsupported)
        if (exchange.route.find(row.part) != std::string_view::npos) message = row.message;
    co_await send_error(exchange, 501, message);
}

}  // namespace jaild::gateway::e2b
