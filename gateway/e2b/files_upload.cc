// POST /files (declared in filesystem_routes.h): each file of the body becomes one chunked FilePut on its own
// jaild connection, fed as the body arrives, so the gateway holds one piece of it at a time and jaild holds the
// file to the session's quota.
#include <boost/asio/this_coro.hpp>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "common/jaild_client.h"
#include "gateway/e2b/filesystem_codec.h"
#include "gateway/e2b/filesystem_routes.h"
#include "gateway/e2b/sandbox_calls.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/multipart_reader.h"
#include "gateway/session_codec.h"

namespace jaild::gateway::e2b {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kMaxChunkBytes = 1024 * 1024;  // the most jaild takes in one FileChunk
// E2bError's status when the exchange has been answered already (jaild unreachable: send_request's 503).
constexpr unsigned kAnswered = 0;

asio::awaitable<void> send_rest_error(Exchange& exchange, const E2bError& error) {
    if (error.status != kAnswered) co_await send_plain_error(exchange, error.status, error.message);
}

E2bError jaild_refusal(const v1::ServerMessage& reply) {
    if (reply.has_error()) return E2bError{rest_status(reply.error()), reply.error().message()};
    return E2bError{502, "jaild answered with an unexpected message"};
}

// One file on its way to jaild.
struct FileUpload {
    explicit FileUpload(asio::any_io_executor executor) : client(std::move(executor)) {}
    JaildClient client;
    WorkspacePath where;
};

// GCC 12 coroutines (docs/development.md): the value-returning coroutines of this file keep one co_return,
// after their last co_await.
asio::awaitable<std::optional<E2bError>> open_upload(Exchange& exchange, FileUpload& upload,
                                                     const std::string& session_id, std::optional<std::uint64_t> size) {
    v1::ClientMessage message;
    v1::FilePut& put = *message.mutable_file_put();
    put.set_session_id(session_id);
    put.set_path(upload.where.relative);
    put.set_chunked(true);
    if (size) put.set_size(*size);  // a file past the quota is refused before a byte of it is sent
    std::optional<E2bError> failure;
    const bool sent = co_await send_request(exchange, upload.client, message);
    v1::ServerMessage reply;
    std::error_code ec;
    if (sent) ec = co_await upload.client.async_receive(reply);
    if (!sent)
        failure = E2bError{kAnswered, {}};
    else if (ec)
        failure = E2bError{502, "jaild closed the connection: " + ec.message()};
    else if (!reply.has_ready())
        failure = jaild_refusal(reply);
    co_return failure;
}

// jaild's answer to the upload: Done, or why it refused (it may answer before the last chunk, e.g. the quota).
asio::awaitable<std::optional<E2bError>> upload_answer_of(FileUpload& upload) {
    v1::ServerMessage reply;
    const std::error_code ec = co_await upload.client.async_receive(reply);
    std::optional<E2bError> failure;
    if (ec)
        failure = E2bError{502, "jaild closed the connection during the upload: " + ec.message()};
    else if (!reply.has_done())
        failure = jaild_refusal(reply);
    co_return failure;
}

// `data` as FileChunk messages of at most kMaxChunkBytes, the last with eof when `last`. An answer jaild sent
// early (a refusal) or a send that failed ends it with jaild's answer.
asio::awaitable<std::optional<E2bError>> send_data(FileUpload& upload, std::string_view data, bool last) {
    v1::ClientMessage message;
    bool answered = false;
    do {
        boost::system::error_code ignored;
        if (upload.client.socket().available(ignored) > 0) {
            answered = true;
            break;
        }
        const std::size_t take = std::min(data.size(), kMaxChunkBytes);
        message.mutable_file_chunk()->set_data(std::string(data.substr(0, take)));
        data.remove_prefix(take);
        message.mutable_file_chunk()->set_eof(last && data.empty());
        const std::error_code ec = co_await upload.client.async_send(message);
        if (ec) {
            answered = true;
            break;
        }
    } while (!data.empty());
    std::optional<E2bError> failure;
    if (answered) failure = co_await upload_answer_of(upload);
    co_return failure;
}

// The body's next piece: from the connection on a streamed request, else all of it at once. An error answer
// (408 for a stalled body, 400 for a malformed one) or kAnswered when the client left.
asio::awaitable<std::optional<E2bError>> next_piece(Exchange& exchange, std::string& piece, bool& done) {
    boost::system::error_code ec;
    if (exchange.body) {
        ec = co_await exchange.body->read(piece, done);
    } else {
        piece = exchange.request.body();
        done = true;
    }
    std::optional<E2bError> failure;
    if (!ec) {
        // a piece
    } else if (ec == asio::error::timed_out) {
        failure = E2bError{408, "no part of the request body received within " +
                                    std::to_string(exchange.options.limits.body_timeout.count()) + " ms"};
    } else if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
        failure = E2bError{kAnswered, {}};
    } else {
        failure = E2bError{400, "malformed HTTP request body: " + ec.message()};
    }
    co_return failure;
}

// Where a part of a multipart upload goes: the query's path, else the part's filename (relative ones against
// the user's home).
std::variant<WorkspacePath, E2bError> part_path(const MultipartPart& part, const FilesQuery& query,
                                                std::set<std::string>& seen) {
    if (part.name != "file") return E2bError{400, "a multipart part must be named \"file\", not \"" + part.name + "\""};
    const std::optional<std::string> path = query.path ? query.path : part.filename;
    if (!path || path->empty())
        return E2bError{400, "a file part needs a filename (its path) when the query has no path"};
    auto mapped = workspace_path(*path, query.user, PathUse::write);
    if (auto* error = std::get_if<ConnectError>(&mapped))
        return E2bError{rest_status(error->code, false), error->message};
    WorkspacePath where = std::get<WorkspacePath>(mapped);
    if (where.relative.empty()) return E2bError{400, where.shown("") + " is a directory"};
    if (!seen.insert(where.relative).second)
        return E2bError{400, "the path " + where.shown(where.relative) + " is given twice in one upload"};
    return where;
}

// What one event of the multipart body does to the upload in progress.
asio::awaitable<std::optional<E2bError>> on_event(Exchange& exchange, const std::string& session_id,
                                                  const FilesQuery& query, MultipartReader::Event& event,
                                                  std::unique_ptr<FileUpload>& current,
                                                  std::vector<WorkspacePath>& written, std::set<std::string>& seen) {
    using Kind = MultipartReader::Event::Kind;
    std::optional<E2bError> failure;
    if (event.kind == Kind::part) {
        auto where = part_path(event.part, query, seen);
        if (auto* error = std::get_if<E2bError>(&where)) {
            failure = *error;
        } else {
            current = std::make_unique<FileUpload>(co_await asio::this_coro::executor);
            current->where = std::get<WorkspacePath>(where);
            failure = co_await open_upload(exchange, *current, session_id, std::nullopt);
        }
    } else if (event.kind == Kind::data) {
        failure = co_await send_data(*current, event.data, false);
    } else {
        failure = co_await send_data(*current, {}, true);
        if (!failure) failure = co_await upload_answer_of(*current);
        if (!failure) {
            written.push_back(current->where);
            current.reset();
        }
    }
    co_return failure;
}

asio::awaitable<std::optional<E2bError>> upload_multipart(Exchange& exchange, const std::string& session_id,
                                                          const FilesQuery& query, const std::string& boundary,
                                                          std::vector<WorkspacePath>& written) {
    MultipartReader reader(boundary);
    std::unique_ptr<FileUpload> current;
    std::set<std::string> seen;
    std::vector<MultipartReader::Event> events;
    std::string piece;
    std::optional<E2bError> failure;
    for (bool done = false; !done && !failure;) {
        failure = co_await next_piece(exchange, piece, done);
        if (failure) break;
        events.clear();
        std::optional<std::string> malformed = reader.feed(piece, events);
        if (!malformed && done) malformed = reader.finish();
        for (MultipartReader::Event& event : events) {
            failure = co_await on_event(exchange, session_id, query, event, current, written, seen);
            if (failure) break;
        }
        if (!failure && malformed) failure = E2bError{400, *malformed};
    }
    if (!failure && written.empty()) failure = E2bError{400, "the upload has no \"file\" part"};
    co_return failure;
}

asio::awaitable<std::optional<E2bError>> upload_octet_stream(Exchange& exchange, const std::string& session_id,
                                                             const FilesQuery& query,
                                                             std::vector<WorkspacePath>& written) {
    std::optional<E2bError> failure;
    FileUpload upload(co_await asio::this_coro::executor);
    if (!query.path) {
        failure = E2bError{400, "an application/octet-stream upload needs the path query parameter"};
    } else {
        auto mapped = workspace_path(*query.path, query.user, PathUse::write);
        if (auto* error = std::get_if<ConnectError>(&mapped))
            failure = E2bError{rest_status(error->code, false), error->message};
        else
            upload.where = std::get<WorkspacePath>(mapped);
        if (!failure && upload.where.relative.empty())
            failure = E2bError{400, upload.where.shown("") + " is a directory"};
    }
    const std::optional<std::uint64_t> size =
        exchange.body ? exchange.body->length() : std::optional<std::uint64_t>(exchange.request.body().size());
    if (!failure) failure = co_await open_upload(exchange, upload, session_id, size);
    std::string piece;
    for (bool done = false; !done && !failure;) {
        failure = co_await next_piece(exchange, piece, done);
        if (!failure) failure = co_await send_data(upload, piece, done);
    }
    if (!failure) failure = co_await upload_answer_of(upload);
    if (!failure) written.push_back(upload.where);
    co_return failure;
}

}  // namespace

asio::awaitable<void> files_upload(Exchange& exchange, const std::string& session_id) {
    auto query = parse_files_query(exchange.request.target());
    if (auto* error = std::get_if<E2bError>(&query)) {
        co_await send_rest_error(exchange, *error);
        co_return;
    }
    const std::string_view type = exchange.request[http::field::content_type];
    const std::optional<std::string> boundary = multipart_boundary(type);
    std::vector<WorkspacePath> written;
    std::optional<E2bError> failure;
    if (!exchange.request[http::field::content_encoding].empty() &&
        exchange.request[http::field::content_encoding] != "identity")
        failure =
            E2bError{400, "a Content-Encoding (gzip) upload is not supported by jaild: send the bytes as they are"};
    else if (boundary)
        failure = co_await upload_multipart(exchange, session_id, std::get<FilesQuery>(query), *boundary, written);
    else if (type.substr(0, type.find(';')) == "application/octet-stream")
        failure = co_await upload_octet_stream(exchange, session_id, std::get<FilesQuery>(query), written);
    else
        failure = E2bError{400, "POST /files takes multipart/form-data (with a boundary) or application/octet-stream"};
    if (failure) {
        co_await send_rest_error(exchange, *failure);
        co_return;
    }
    const std::string body = upload_answer(written);
    co_await exchange.responder.send(json_response(200, body));
}

}  // namespace jaild::gateway::e2b
