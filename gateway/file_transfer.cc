#include "gateway/file_transfer.h"

#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/error.hpp>

#include "common/jaild_client.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> send_unexpected(Exchange& exchange) {
    const std::string body = error_body("jaild answered with an unexpected message");
    co_await send_json(exchange, 502, body);
}

// Sends a transfer's first message to jaild and checks that jaild answers with `expected`; false once the
// client has been answered (jaild refused, or said something else).
// GCC 12 coroutines (docs/development.md): awaited values named, one co_return after the last co_await
asio::awaitable<bool> open_transfer(Exchange& exchange, JaildClient& client, v1::ClientMessage& message,
                                    v1::ServerMessage::KindCase expected, v1::ServerMessage& reply) {
    const bool opened = co_await open_exchange(exchange, client, message, RequestKind::session, reply);
    if (!opened) co_return false;
    const bool as_expected = answer_is(reply, expected);
    if (!as_expected) co_await send_unexpected(exchange);
    co_return as_expected;
}

// The body could not be read to its end: the client is told why when it is still there to hear it.
asio::awaitable<void> answer_body_error(Exchange& exchange, boost::system::error_code ec) {
    if (ec == asio::error::timed_out) {
        const std::string body = error_body("no part of the request body received within " +
                                            std::to_string(exchange.options.limits.body_timeout.count()) + " ms");
        co_await send_json(exchange, 408, body);
    } else if (ec != asio::error::eof && ec != http::error::partial_message && ec != asio::error::connection_reset &&
               ec != asio::error::operation_aborted) {
        const std::string body = error_body("malformed HTTP request: " + ec.message());
        co_await send_json(exchange, 400, body);
    }
}

// The body to jaild as FileChunk messages, up to the one with eof. Stops early, the body unread, when jaild
// has answered already (it refused the upload, e.g. past the quota): the caller reads why. False when the
// body could not be read (answered here).
asio::awaitable<bool> send_body(Exchange& exchange, JaildClient& client, std::uint64_t& sent) {
    std::string piece;
    v1::ClientMessage message;
    for (bool done = false; !done;) {
        if (exchange.body) {
            if (auto ec = co_await exchange.body->read(piece, done)) {
                co_await answer_body_error(exchange, ec);
                co_return false;
            }
        } else {  // a route that did not stream: the body is in the request
            piece = exchange.request.body();
            done = true;
        }
        if (piece.empty() && !done) continue;
        boost::system::error_code ignored;
        if (client.socket().available(ignored) > 0) co_return true;
        const std::size_t size = piece.size();
        message.mutable_file_chunk()->set_data(std::move(piece));
        message.mutable_file_chunk()->set_eof(done);
        if (co_await client.async_send(message)) co_return true;  // jaild closed: its answer says why
        sent += size;
        piece = std::move(*message.mutable_file_chunk()->mutable_data());  // keeps the buffer
    }
    co_return true;
}

}  // namespace

asio::awaitable<void> forward_upload(Exchange& exchange, const std::string& session_id, const std::string& path) {
    v1::ClientMessage message;
    v1::FilePut& put = *message.mutable_file_put();
    put.set_session_id(session_id);
    put.set_path(path);
    put.set_chunked(true);
    // The Content-Length lets jaild refuse a file too large for the quota before a byte of it is read.
    const std::optional<std::uint64_t> length =
        exchange.body ? exchange.body->length() : std::optional<std::uint64_t>(exchange.request.body().size());
    if (length) put.set_size(*length);
    JaildClient client(co_await asio::this_coro::executor);
    v1::ServerMessage reply;
    if (!co_await open_transfer(exchange, client, message, v1::ServerMessage::kReady, reply)) co_return;
    std::uint64_t sent = 0;
    if (!co_await send_body(exchange, client, sent)) co_return;  // closing the connection drops the upload
    reply.Clear();
    if (std::error_code ec = co_await client.async_receive(reply)) {
        const std::string body = error_body("jaild closed the connection during the upload: " + ec.message());
        co_await send_json(exchange, 502, body);
        co_return;
    }
    if (reply.has_error()) {
        const HttpError error = map_jaild_error(reply.error(), RequestKind::session);
        Response response = json_response(error.status, error.body, error.retry_after);
        co_await exchange.responder.send(std::move(response));
        co_return;
    }
    if (!answer_is(reply, v1::ServerMessage::kDone)) {
        co_await send_unexpected(exchange);
        co_return;
    }
    const std::string body = put_body(path, sent);
    co_await send_json(exchange, 201, body);
}

asio::awaitable<void> forward_download(Exchange& exchange, const std::string& session_id, const std::string& path) {
    v1::ClientMessage message;
    message.mutable_file_get()->set_session_id(session_id);
    message.mutable_file_get()->set_path(path);
    message.mutable_file_get()->set_chunked(true);
    JaildClient client(co_await asio::this_coro::executor);
    v1::ServerMessage reply;
    if (!co_await open_transfer(exchange, client, message, v1::ServerMessage::kFileHeader, reply)) co_return;
    // The bytes as they are: no JSON, no trailing newline.
    std::string type = "application/octet-stream";
    if (!co_await exchange.responder.begin_body(std::move(type), reply.file_header().size())) co_return;
    for (;;) {
        reply.Clear();
        const std::error_code ec = co_await client.async_receive(reply);
        if (ec || !reply.has_file_chunk()) {  // the answer is cut short, and the connection with it
            spdlog::warn("request {}: download of \"{}\" cut: {}", exchange.request_id, path,
                         ec                  ? ec.message()
                         : reply.has_error() ? reply.error().message()
                                             : "unexpected message");
            co_return;
        }
        const bool eof = reply.file_chunk().eof();
        std::string data = std::move(*reply.mutable_file_chunk()->mutable_data());
        if (!data.empty()) {
            if (!co_await exchange.responder.write_body(std::move(data))) co_return;
        }
        if (eof) co_return;
    }
}

}  // namespace jaild::gateway
