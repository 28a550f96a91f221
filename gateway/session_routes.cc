#include "gateway/session_routes.h"

#include <boost/beast/http/field.hpp>

#include "gateway/file_transfer.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/live_codec.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> send_field_error(Exchange& exchange, const FieldError& error) {
    const std::string body = error_body(error.message, error.field);
    co_await send_json(exchange, 400, body);
}

// The body answering a reply of the wrong kind from jaild; a plain function, not a coroutine that sends it:
// GCC 12 coroutines (docs/development.md): callers build the body in a local and await send_json themselves
std::string unexpected_body() { return error_body("jaild answered with an unexpected message"); }

// The URL's {id} and, when asked for, {path}, percent-decoded once and otherwise left as sent: jaild is the one
// that resolves the path beneath the workspace and refuses what escapes it.
std::optional<FieldError> decode_params(const Exchange& exchange, std::string& session_id, std::string* path) {
    auto id = decode_url_param(exchange.params.at(0), "session_id", "the session id");
    if (auto* error = std::get_if<FieldError>(&id)) return *error;
    session_id = std::move(std::get<std::string>(id));
    if (!path) return std::nullopt;
    auto decoded = decode_url_param(exchange.params.at(1), "path", "the file path");
    if (auto* error = std::get_if<FieldError>(&decoded)) return *error;
    *path = std::move(std::get<std::string>(decoded));
    if (path->empty()) return FieldError{"path", "a file path is required: /sessions/{id}/files/{path}"};
    return std::nullopt;
}

// Sends `message` and checks that jaild's answer is the `expected` kind; answers the exchange itself (jaild's
// error mapped, or 502) and returns false otherwise.
asio::awaitable<bool> call(Exchange& exchange, v1::ClientMessage& message, v1::ServerMessage::KindCase expected,
                           v1::ServerMessage& reply) {
    if (!co_await request_reply(exchange, message, RequestKind::session, reply)) co_return false;
    if (answer_is(reply, expected)) co_return true;
    const std::string body = unexpected_body();
    co_await send_json(exchange, 502, body);
    co_return false;
}

// Every route that answers with the session's info object.
asio::awaitable<void> answer_session(Exchange& exchange, v1::ClientMessage& message, unsigned status) {
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kSession, reply)) co_return;
    const std::string body = session_info_body(reply.session());
    co_await send_json(exchange, status, body);
}

}  // namespace

asio::awaitable<void> handle_session_create(Exchange& exchange) {
    const bool has_body = exchange.request.body().find_first_not_of(" \t\r\n") != std::string::npos;
    if (has_body) {
        if (!co_await require_json(exchange)) co_return;
    }
    auto parsed = parse_session_create(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    *message.mutable_session_create() = std::move(std::get<v1::SessionCreate>(parsed));
    co_await answer_session(exchange, message, 201);
}

asio::awaitable<void> handle_session_list(Exchange& exchange) {
    v1::ClientMessage message;
    message.mutable_session_list();
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kSessions, reply)) co_return;
    const std::string body = session_list_body(reply.sessions());
    co_await send_json(exchange, 200, body);
}

asio::awaitable<void> handle_session_get(Exchange& exchange) {
    v1::ClientMessage message;
    std::string id;
    if (auto error = decode_params(exchange, id, nullptr)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    message.mutable_session_get()->set_session_id(id);
    co_await answer_session(exchange, message, 200);
}

asio::awaitable<void> handle_session_delete(Exchange& exchange) {
    v1::ClientMessage message;
    std::string id;
    if (auto error = decode_params(exchange, id, nullptr)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    message.mutable_session_delete()->set_session_id(id);
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kDone, reply)) co_return;
    const std::string body = deleted_body("session_id", id);
    co_await send_json(exchange, 200, body);
}

asio::awaitable<void> handle_session_env(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    std::string id;
    if (auto error = decode_params(exchange, id, nullptr)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    auto parsed = parse_session_env(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    v1::SessionSetEnv& set_env = *message.mutable_session_set_env();
    set_env = std::move(std::get<v1::SessionSetEnv>(parsed));
    set_env.set_session_id(id);
    co_await answer_session(exchange, message, 200);
}

asio::awaitable<void> handle_session_cwd(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    std::string id;
    if (auto error = decode_params(exchange, id, nullptr)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    auto parsed = parse_session_cwd(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    v1::SessionSetCwd& set_cwd = *message.mutable_session_set_cwd();
    set_cwd = std::move(std::get<v1::SessionSetCwd>(parsed));
    set_cwd.set_session_id(id);
    co_await answer_session(exchange, message, 200);
}

asio::awaitable<void> handle_session_timeout(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    std::string id;
    if (auto error = decode_params(exchange, id, nullptr)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    auto parsed = parse_session_timeout(exchange.request.body());
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    v1::SessionSetTimeout& set_timeout = *message.mutable_session_set_timeout();
    set_timeout = std::move(std::get<v1::SessionSetTimeout>(parsed));
    set_timeout.set_session_id(id);
    co_await answer_session(exchange, message, 200);
}

asio::awaitable<void> handle_file_list(Exchange& exchange) {
    std::string id;
    if (auto error = decode_params(exchange, id, nullptr)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    message.mutable_file_list()->set_session_id(id);
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kFiles, reply)) co_return;
    const std::string body = file_list_body(reply.files());
    co_await send_json(exchange, 200, body);
}

asio::awaitable<void> handle_file_get(Exchange& exchange) {
    std::string id, path;
    if (auto error = decode_params(exchange, id, &path)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    co_await forward_download(exchange, id, path);
}

asio::awaitable<void> handle_file_put(Exchange& exchange) {
    std::string id, path;
    if (auto error = decode_params(exchange, id, &path)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    co_await forward_upload(exchange, id, path);
}

asio::awaitable<void> handle_file_delete(Exchange& exchange) {
    std::string id, path;
    if (auto error = decode_params(exchange, id, &path)) {
        co_await send_field_error(exchange, *error);
        co_return;
    }
    v1::ClientMessage message;
    message.mutable_file_delete()->set_session_id(id);
    message.mutable_file_delete()->set_path(path);
    v1::ServerMessage reply;
    if (!co_await call(exchange, message, v1::ServerMessage::kDone, reply)) co_return;
    const std::string body = deleted_body("path", path);
    co_await send_json(exchange, 200, body);
}

asio::awaitable<void> forward_user_run(Exchange& exchange, ParsedRequest request, bool stream) {
    v1::ClientMessage create;
    create.mutable_session_create()->set_name(request.user_id);
    v1::ServerMessage reply;
    // RequestKind::run: jaild's "name" is this request's user_id.
    if (!co_await request_reply(exchange, create, RequestKind::run, reply)) co_return;
    if (!answer_is(reply, v1::ServerMessage::kSession)) {
        const std::string body = unexpected_body();
        co_await send_json(exchange, 502, body);
        co_return;
    }
    request.message.mutable_execute()->set_session_id(reply.session().session_id());
    co_await forward_run(exchange, std::move(request), stream);
}

}  // namespace jaild::gateway
