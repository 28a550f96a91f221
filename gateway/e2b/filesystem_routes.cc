#include "gateway/e2b/filesystem_routes.h"

#include <boost/asio/this_coro.hpp>
#include <optional>

#include "common/jaild_client.h"
#include "gateway/e2b/connect_envelope.h"
#include "gateway/e2b/envd_request.h"
#include "gateway/e2b/filesystem_codec.h"
#include "gateway/e2b/sandbox_calls.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/session_codec.h"

namespace jaild::gateway::e2b {

namespace asio = boost::asio;

namespace {

// A filesystem RPC as one jaild request: what it sends, what it expects, and how its answer reads.
struct FsCall {
    v1::ClientMessage message;
    v1::ServerMessage::KindCase expected = v1::ServerMessage::kFiles;
    WorkspacePath where;
    bool list = false;
};

template <class T>
const ConnectError* failed(const std::variant<T, ConnectError>& parsed) {
    return std::get_if<ConnectError>(&parsed);
}

std::optional<ConnectError> move_call(std::string_view body, EnvdUser user, const std::string& session_id,
                                      FsCall& call) {
    auto parsed = parse_move(body);
    if (auto* error = failed(parsed)) return *error;
    auto source = workspace_path(std::get<MoveRequest>(parsed).source, user, PathUse::write);
    if (auto* error = failed(source)) return *error;
    auto destination = workspace_path(std::get<MoveRequest>(parsed).destination, user, PathUse::write);
    if (auto* error = failed(destination)) return *error;
    call.where = std::get<WorkspacePath>(destination);
    const std::string& from = std::get<WorkspacePath>(source).relative;
    if (from.empty() || call.where.relative.empty())
        return ConnectError{ConnectCode::permission_denied, "the workspace (/home/user) itself cannot be moved"};
    v1::FileMove& move = *call.message.mutable_file_move();
    move.set_session_id(session_id);
    move.set_source(from);
    move.set_destination(call.where.relative);
    return std::nullopt;
}

// Stat, ListDir, MakeDir, Remove.
std::optional<ConnectError> path_call(std::string_view method, std::string_view body, EnvdUser user,
                                      const std::string& session_id, FsCall& call) {
    auto parsed = parse_path_request(body);
    if (auto* error = failed(parsed)) return *error;
    const PathRequest& request = std::get<PathRequest>(parsed);
    const bool reads = method == "Stat" || method == "ListDir";
    auto mapped = workspace_path(request.path, user, reads ? PathUse::read : PathUse::write);
    if (auto* error = failed(mapped)) return *error;
    call.where = std::get<WorkspacePath>(mapped);
    const std::string& path = call.where.relative;
    if (method == "Stat") {
        call.message.mutable_file_stat()->set_session_id(session_id);
        call.message.mutable_file_stat()->set_path(path);
    } else if (method == "ListDir") {
        call.message.mutable_file_list()->set_session_id(session_id);
        call.message.mutable_file_list()->set_path(path);
        call.message.mutable_file_list()->set_depth(list_depth(request.depth));
        call.list = true;
    } else if (method == "MakeDir") {
        if (path.empty())
            return ConnectError{ConnectCode::already_exists, "directory " + call.where.shown("") + " exists already"};
        call.message.mutable_file_make_dir()->set_session_id(session_id);
        call.message.mutable_file_make_dir()->set_path(path);
    } else {
        if (path.empty())
            return ConnectError{ConnectCode::permission_denied, "the workspace (/home/user) itself cannot be removed"};
        call.message.mutable_file_delete()->set_session_id(session_id);
        call.message.mutable_file_delete()->set_path(path);
        call.expected = v1::ServerMessage::kDone;
    }
    return std::nullopt;
}

}  // namespace

asio::awaitable<void> filesystem_call(Exchange& exchange, const std::string& session_id, std::string_view method) {
    if (method == "WatchDir") {
        const ConnectError error{ConnectCode::unimplemented,
                                 "filesystem.WatchDir is not supported by jaild: it does not watch directories"};
        co_await stream_error(exchange, error);
        co_return;
    }
    FsCall call;
    std::optional<ConnectError> failure;
    auto user = envd_user(exchange.request[http::field::authorization]);
    if (auto* error = failed(user))
        failure = *error;
    else if (method == "Move")
        failure = move_call(exchange.request.body(), std::get<EnvdUser>(user), session_id, call);
    else if (method == "Stat" || method == "ListDir" || method == "MakeDir" || method == "Remove")
        failure = path_call(method, exchange.request.body(), std::get<EnvdUser>(user), session_id, call);
    else
        failure =
            ConnectError{ConnectCode::unimplemented, "filesystem." + std::string(method) +
                                                         " is not supported by jaild (it does not watch directories)"};
    v1::ServerMessage reply;
    if (!failure) failure = co_await ask_envd(exchange, call.message, call.expected, reply);
    if (failure) {
        co_await send_unary_error(exchange, failure->code, failure->message);
        co_return;
    }
    const std::string body = call.expected == v1::ServerMessage::kDone ? "{}"
                             : call.list                               ? list_answer(reply.files(), call.where)
                                                                       : entry_answer(reply.files(), call.where);
    co_await exchange.responder.send(json_response(200, body));
}

asio::awaitable<void> files_download(Exchange& exchange, const std::string& session_id) {
    auto query = parse_files_query(exchange.request.target());
    std::optional<E2bError> failure;
    WorkspacePath where;
    if (auto* error = std::get_if<E2bError>(&query)) {
        failure = *error;
    } else {
        const FilesQuery& files = std::get<FilesQuery>(query);
        auto mapped = workspace_path(files.path.value_or(""), files.user, PathUse::read);
        if (auto* error = failed(mapped))
            failure = E2bError{rest_status(error->code, false), error->message};
        else
            where = std::get<WorkspacePath>(mapped);
        if (!failure && where.relative.empty()) failure = E2bError{400, where.shown("") + " is a directory"};
    }
    if (failure) {
        co_await send_plain_error(exchange, failure->status, failure->message);
        co_return;
    }
    v1::ClientMessage message;
    message.mutable_file_get()->set_session_id(session_id);
    message.mutable_file_get()->set_path(where.relative);
    message.mutable_file_get()->set_chunked(true);
    JaildClient client(co_await asio::this_coro::executor);
    if (!co_await send_request(exchange, client, message)) co_return;  // answered 503
    v1::ServerMessage reply;
    const std::error_code ec = co_await client.async_receive(reply);
    if (ec || !reply.has_file_header()) {
        const unsigned status = ec ? 502 : reply.has_error() ? rest_status(reply.error()) : 502;
        const std::string why = ec                  ? "jaild closed the connection: " + ec.message()
                                : reply.has_error() ? reply.error().message()
                                                    : "jaild answered with an unexpected message";
        co_await send_plain_error(exchange, status, why);
        co_return;
    }
    std::string type = "application/octet-stream";
    if (!co_await exchange.responder.begin_body(std::move(type), reply.file_header().size())) co_return;
    for (std::uint64_t left = reply.file_header().size(); left > 0;) {
        reply.Clear();
        // Cut short (an error, or jaild gone), the answer ends with the connection: the client sees it cut.
        if (co_await client.async_receive(reply) || !reply.has_file_chunk()) co_return;
        std::string data = std::move(*reply.mutable_file_chunk()->mutable_data());
        left -= std::min<std::uint64_t>(left, data.size());
        if (!data.empty() && !co_await exchange.responder.write_body(std::move(data))) co_return;
        if (reply.file_chunk().eof()) co_return;
    }
}

}  // namespace jaild::gateway::e2b
