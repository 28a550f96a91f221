#include "gateway/http_connection.h"
#include "gateway/e2b/envd_request.h"
#include "gateway/e2b/envd_routes.h"
#include "gateway/e2b/sandbox_admission.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <random>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "gateway/access_log.h"
#include "gateway/quota_admission.h"
#include "gateway/request_parsing.h"
#include "gateway/result_rendering.h"
#include "gateway/upload_body.h"
#include "gateway/websocket.h"

namespace jaild::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

constexpr std::size_t kReadChunk = 4096;

// Errors that only mean the peer left or we closed: nothing to answer, nothing to log. A TLS error leaves
// nobody to answer either: the stream is broken.
bool is_disconnect(const boost::system::error_code& ec) {
    return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
           ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor || ec == beast::error::timeout ||
           ec == beast::http::error::end_of_stream || ec == asio::ssl::error::stream_truncated ||
           ec.category() == asio::error::get_ssl_category();
}

}  // namespace

std::string new_request_id() {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    for (int word = 0; word < 2; ++word) {
        std::uint64_t bits = generator();
        for (int i = 0; i < 16; ++i, bits >>= 4) id.push_back(kHex[bits & 15]);
    }
    return id;
}

template <class F>
void ConnectionRegistry::for_each(F f) {
    std::lock_guard lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
        if (auto connection = it->lock()) {
            f(connection);
            ++it;
        } else {
            it = connections_.erase(it);
        }
    }
}

void ConnectionRegistry::add(const std::shared_ptr<HttpConnection>& connection) {
    std::lock_guard lock(mutex_);
    connections_.remove_if([](const auto& weak) { return weak.expired(); });
    connections_.push_back(connection);
}

void ConnectionRegistry::begin_stopping() {
    stopping_ = true;
    for_each([](const std::shared_ptr<HttpConnection>& s) { asio::post(s->executor(), [s] { s->close_if_idle(); }); });
}

void ConnectionRegistry::close_all() {
    for_each([](const std::shared_ptr<HttpConnection>& s) { asio::post(s->executor(), [s] { s->close(); }); });
}

HttpConnection::HttpConnection(asio::ip::tcp::socket socket, const GatewayOptions& options,
                               ConnectionRegistry& registry, Authenticator& authenticator,
                               std::shared_ptr<asio::ssl::context> tls)
    : stream_(std::move(socket), std::move(tls)),
      read_deadline_(stream_.get_executor()),
      options_(options),
      registry_(registry),
      authenticator_(authenticator) {
    ++registry_.count_;
    // Each answer, and each line of a streamed one, leaves at once instead of waiting for the client's ACK.
    boost::system::error_code ignored;
    stream_.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    peer_ = stream_.socket().remote_endpoint(ignored).address();
}

HttpConnection::~HttpConnection() { --registry_.count_; }

void HttpConnection::close_if_idle() {
    if (!busy_) close();
}

void HttpConnection::close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
}

asio::awaitable<void> HttpConnection::run(std::shared_ptr<HttpConnection> self) {
    try {
        bool open = true;
        if (self->stream_.tls()) open = co_await self->start_tls();
        // GCC 12 coroutines (docs/development.md): two statements, no short-circuited co_await
        while (open) {
            if (!co_await self->wait_for_request()) break;
            if (!co_await self->read_and_answer()) break;
        }
    } catch (const std::exception& error) {
        spdlog::warn("http session ended by an exception: {}", error.what());
    }
    co_await self->lingering_close();
}

// A TLS connection starts with the handshake, timed like a request's header. A client that speaks plain HTTP
// to the port is told so in plain HTTP, then closed.
asio::awaitable<bool> HttpConnection::start_tls() {
    bool plain_http = false;
    const auto ec = co_await stream_.handshake(buffer_, options_.limits.header_timeout, plain_http);
    if (plain_http) {
        co_await refuse_plain_http();
        co_return false;
    }
    if (ec && is_disconnect(ec))
        spdlog::debug("TLS handshake with {} ended: {}", peer_.to_string(), ec.message());
    else if (ec)
        spdlog::info("TLS handshake with {} failed: {}", peer_.to_string(), ec.message());
    co_return !ec;
}

asio::awaitable<void> HttpConnection::refuse_plain_http() {
    keep_alive_ = false;
    request_id_ = new_request_id();
    Response response = json_response(400, error_body("this port speaks only HTTPS: use an https:// URL"));
    response.set("X-Request-Id", request_id_);
    set_node_header(response, *options_.node);
    response.keep_alive(false);
    response.prepare_payload();
    stream_.expires_after(options_.limits.write_timeout);
    co_await http::async_write(stream_.tcp(), response, as_tuple(use_awaitable));
    spdlog::info("refused plain HTTP from {} on the TLS port: 400 request_id={}", peer_.to_string(), request_id_);
}

// Between requests: the idle timeout, and the point where shutdown may close us.
asio::awaitable<bool> HttpConnection::wait_for_request() {
    busy_ = false;
    if (registry_.stopping() || !keep_alive_) co_return false;
    if (buffer_.size() > 0) co_return true;  // a pipelined request is already here
    stream_.expires_after(options_.limits.idle_timeout);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), as_tuple(use_awaitable));
    if (ec) co_return false;
    buffer_.commit(n);
    co_return true;
}

asio::awaitable<bool> HttpConnection::read_and_answer() {
    busy_ = true;
    caller_ = address_caller(peer_);  // until the request's own (its key, its X-Forwarded-For) is known
    refused_.reset();
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.limits.header_bytes));
    parser.body_limit(boost::none);  // the route decides, once the header is in
    stream_.expires_never();
    arm_read_deadline(options_.limits.header_timeout);  // slowloris: the whole header within this time
    auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, as_tuple(use_awaitable));
    bool timed_out = disarm_read_deadline();
    if (!ec) refused_ = check_caller(parser.get());
    if (refused_) {
        // Refused on its header: answered at once, without a 100 Continue and without reading the body, which
        // the lingering close drains. A caller without a key never gets the gateway to hold a body.
        Request request{parser.get().base()};
        keep_alive_ = false;
        co_await answer(request);
        co_return false;
    }
    const bool streams =
        !ec && (match_route(parser.get().method(), parser.get().target(), options_.metrics_only).streams_body ||
                e2b::streams_body(parser.get()));
    if (!ec && !streams) {
        parser.body_limit(options_.limits.body_bytes);  // a chunked body is counted as it comes
        if (parser.content_length().value_or(0) > options_.limits.body_bytes) ec = http::error::body_limit;
    }
    if (!ec && !parser.is_done()) acknowledge_now();
    if (!ec && parser.get()[http::field::expect] == "100-continue") {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        stream_.expires_after(options_.limits.write_timeout);
        std::tie(ec, n) = co_await http::async_write(stream_, go_on, as_tuple(use_awaitable));
        stream_.expires_never();
    }
    if (!ec && streams) {
        UploadBody::Parser streamed(std::move(parser));  // the header so far; the handler reads the body
        streamed.body_limit(boost::none);                // jaild holds it to the jaild session's disk quota
        co_return co_await answer_streamed(streamed);
    }
    if (!ec) {
        arm_read_deadline(options_.limits.body_timeout);
        while (!ec && !parser.is_done()) {
            std::tie(ec, n) = co_await http::async_read_some(stream_, buffer_, parser, as_tuple(use_awaitable));
            if (!ec && !parser.is_done()) acknowledge_now();
        }
        timed_out = disarm_read_deadline();
    }
    if (ec) {
        if (timed_out && ec == asio::error::operation_aborted) ec = asio::error::timed_out;
        std::string_view given;
        if (parser.is_header_done()) given = parser.get()["X-Request-Id"];
        // The fields read so far (all of them when only the body was refused) may name a listed origin.
        cors_ = cors_headers(options_.cors_origins, parser.get()[http::field::origin]);
        request_id_ = valid_request_id(given) ? std::string(given) : new_request_id();
        co_await reject(ec, parser.is_header_done());
        co_return false;
    }
    Request request = parser.release();
    keep_alive_ = request.keep_alive() && !registry_.stopping();
    co_await answer(request);
    co_return keep_alive_;
}

// A client without TCP_NODELAY (Python's httpx writes a request's head and body apart) holds back the rest of
// its request until it sees an ACK, which Linux delays up to 40 ms in the hope of sending it with an answer:
// acknowledge now what was read, while more is expected. TCP_QUICKACK does not stick, so it is set each time.
void HttpConnection::acknowledge_now() {
    const int on = 1;
    ::setsockopt(stream_.socket().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

// A request whose handler reads the body itself. Whatever it leaves unread ends the connection.
asio::awaitable<bool> HttpConnection::answer_streamed(UploadBody::Parser& parser) {
    UploadBody body(stream_, buffer_, parser, options_.limits.body_timeout);
    Request request{parser.get().base()};
    keep_alive_ = request.keep_alive() && !registry_.stopping();
    unread_body_ = &body;
    co_await answer(request, &body);
    unread_body_ = nullptr;
    if (!body.complete()) keep_alive_ = false;
    co_return keep_alive_;
}

// Cancels the pending read when `timeout` passes; the socket stays open so the client can be told why.
void HttpConnection::arm_read_deadline(std::chrono::milliseconds timeout) {
    read_timed_out_ = false;
    wait_read_deadline(timeout, ++read_deadline_generation_);
}

// Once past the deadline, cancels again every 50 ms until disarmed: a read whose completion was already queued
// when the first cancel came is followed by another read of the same composed operation. The generation tells
// a stale expiry from the current deadline.
void HttpConnection::wait_read_deadline(std::chrono::milliseconds timeout, unsigned armed) {
    read_deadline_.expires_after(timeout);
    read_deadline_.async_wait([self = shared_from_this(), armed](const boost::system::error_code& ec) {
        if (ec || armed != self->read_deadline_generation_) return;
        self->read_timed_out_ = true;
        boost::system::error_code ignored;
        self->stream_.socket().cancel(ignored);
        self->wait_read_deadline(std::chrono::milliseconds(50), armed);
    });
}

// Returns whether the deadline fired.
bool HttpConnection::disarm_read_deadline() {
    ++read_deadline_generation_;
    read_deadline_.cancel();
    return read_timed_out_;
}

// A request that could not be read: answer when there is someone to answer, then close.
asio::awaitable<void> HttpConnection::reject(boost::system::error_code ec, bool header_done) {
    keep_alive_ = false;
    if (is_disconnect(ec)) co_return;
    if (ec == asio::error::timed_out) {
        const auto limit = header_done ? options_.limits.body_timeout : options_.limits.header_timeout;
        const std::string message = std::string(header_done ? "request body" : "request header") +
                                    " not received within " + std::to_string(limit.count()) + " ms";
        co_await send(json_response(408, error_body(message)));
    } else if (ec == http::error::body_limit) {
        const std::string message = "request body larger than " + std::to_string(options_.limits.body_bytes) + " bytes";
        co_await send(json_response(413, error_body(message)));
    } else if (ec == http::error::header_limit) {
        co_await send(json_response(431, error_body("request header too large")));
    } else {
        const std::string message = "malformed HTTP request: " + ec.message();
        co_await send(json_response(400, error_body(message)));
    }
    spdlog::info("rejected a request: {} ({}) request_id={}", status_, ec.message(), request_id_);
    record_access({.request_id = request_id_, .remote = caller_.remote, .status = status_});
}

// Who sends the request (gateway/authenticator.h), or the answer that refuses it. A CORS preflight on a known
// path is let through: browsers send it without keys, and answer() answers it.
std::optional<Response> HttpConnection::check_caller(const Request& request) {
    const RouteMatch match = match_route(request.method(), request.target(), options_.metrics_only);
    if (request.method() == http::verb::options && match.status == 405) return std::nullopt;
    // A request to an E2B sandbox carries the sandbox's access token instead of a key.
    if (e2b::sandbox_request(request))
        return e2b::admit_sandbox_request(request, peer_, authenticator_, options_.e2b_tokens.get(), caller_);
    std::optional<Response> refused = authenticator_.authenticate(request, peer_, caller_);
    if (refused && e2b::control_plane_path(request.target())) e2b::reshape_refusal(*refused);
    return refused;
}

asio::awaitable<void> HttpConnection::answer(Request& request, BodyReader* body) {
    const auto started = std::chrono::steady_clock::now();
    status_ = 0;
    body_left_ = 0;
    bytes_out_ = 0;
    std::string verdict;
    std::optional<Reason> rejected;
    const std::string_view given = request["X-Request-Id"];
    request_id_ = given.empty() ? new_request_id() : std::string(given);
    cors_ = cors_headers(options_.cors_origins, request[http::field::origin]);
    const RouteMatch match = match_route(request.method(), request.target(), options_.metrics_only);
    if (!given.empty() && !valid_request_id(given)) {
        request_id_ = new_request_id();
        co_await send(json_response(
            400,
            error_body("X-Request-Id must be 1 to 128 printable ASCII characters without spaces", "X-Request-Id")));
    } else if (request.method() == http::verb::options && match.status == 405) {
        // A CORS preflight (or any OPTIONS) on a known path. Browsers send no credentials with a preflight,
        // so it is answered before anything that would ask for them.
        Response response{http::status::no_content, 11};
        for (auto& [name, value] : options_headers(match.allow, cors_allowed(cors_))) response.set(name, value);
        co_await send(std::move(response));
    } else if (!refused_ && e2b::sandbox_request(request)) {
        Exchange exchange{request, request_id_, options_, caller_, *this, {}, body};
        co_await run_handler(&e2b::handle_sandbox_call, exchange, !body);
    } else if (refused_) {
        rejected = Reason::auth;
        co_await send(std::move(*refused_));
    } else if (match.status == 404) {
        co_await send(json_response(404, error_body("no such endpoint: " + std::string(request.target()))));
    } else if (match.status == 405) {
        Response response = json_response(405, error_body("method not allowed; allowed: " + match.allow));
        response.set(http::field::allow, match.allow);
        co_await send(std::move(response));
    } else {
        Exchange exchange{request, request_id_, options_, caller_, *this, match.params, body, match.pattern};
        // A WebSocket route reads the socket itself once upgraded: nothing else may.
        co_await run_handler(match.handler, exchange, !body && !match.websocket);
        verdict = std::move(exchange.verdict);
        rejected = exchange.rejected;
    }
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    record_access({request_id_, caller_.tenant, caller_.remote, request.method_string(), match.pattern, status_,
                   verdict, static_cast<std::uint64_t>(elapsed.count()),
                   body ? body->length().value_or(0) : request.body().size(), bytes_out_, rejected});
}

asio::awaitable<void> HttpConnection::run_handler(Handler handler, Exchange& exchange, bool watch) {
    using namespace asio::experimental::awaitable_operators;
    try {
        // Whichever ends first cancels the other: a hang-up cancels the handler (and so the job); the
        // handler's end stops the watch. A handler that reads the body itself sees a hang-up there.
        if (watch)
            co_await (handler(exchange) || watch_peer());
        else
            co_await handler(exchange);
    } catch (const boost::system::system_error& error) {
        if (!is_disconnect(error.code())) spdlog::warn("request {} failed: {}", request_id_, error.what());
        keep_alive_ = false;
    }
    if (status_ == 0) keep_alive_ = false;    // the handler never answered: the client left or was cancelled
    if (body_left_ > 0) keep_alive_ = false;  // a sized answer was cut short
}

// Reads while a handler runs. Bytes that arrive are a pipelined next request and are kept; an error or EOF
// means the client is gone.
asio::awaitable<void> HttpConnection::watch_peer() {
    for (;;) {
        if (buffer_.size() >= options_.limits.header_bytes) {
            asio::steady_timer never(stream_.get_executor(), asio::steady_timer::time_point::max());
            co_await never.async_wait(as_tuple(use_awaitable));  // enough is buffered; wait to be cancelled
            co_return;
        }
        auto [ec, n] = co_await stream_.async_read_some_untimed(buffer_.prepare(kReadChunk), as_tuple(use_awaitable));
        if (ec) {
            if (ec != asio::error::operation_aborted) keep_alive_ = false;
            co_return;
        }
        buffer_.commit(n);
    }
}

asio::awaitable<bool> HttpConnection::send(Response response) {
    status_ = response.result_int();
    bytes_out_ += response.body().size();
    if (registry_.stopping()) keep_alive_ = false;  // shutting down: this is the connection's last answer
    if (unread_body_ && !unread_body_->complete()) keep_alive_ = false;  // answered before the body was read
    response.set("X-Request-Id", request_id_);
    set_node_header(response, *options_.node);
    for (const auto& [name, value] : cors_) response.set(name, value);
    for (const auto& [name, value] : rate_limit_fields(options_, caller_)) response.set(name, value);
    response.keep_alive(keep_alive_);
    // An answer to HEAD keeps the Content-Length its handler set for the body it leaves out.
    if (!response.body().empty() || !response.has_content_length()) response.prepare_payload();
    stream_.expires_after(options_.limits.write_timeout);
    auto [ec, n] = co_await http::async_write(stream_, response, as_tuple(use_awaitable));
    if (ec) keep_alive_ = false;
    co_return !ec;
}

asio::awaitable<bool> HttpConnection::begin_chunked(std::string content_type) {
    status_ = 200;
    if (registry_.stopping()) keep_alive_ = false;
    http::response<http::empty_body> response{http::status::ok, 11};
    response.set(http::field::content_type, content_type);
    response.set(http::field::cache_control, "no-cache");
    response.set("X-Accel-Buffering", "no");  // tell nginx-like proxies not to hold the stream back
    response.set("X-Request-Id", request_id_);
    set_node_header(response, *options_.node);
    for (const auto& [name, value] : cors_) response.set(name, value);
    for (const auto& [name, value] : rate_limit_fields(options_, caller_)) response.set(name, value);
    response.keep_alive(keep_alive_);
    response.chunked(true);
    http::response_serializer<http::empty_body> serializer{response};
    stream_.expires_after(options_.limits.write_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, as_tuple(use_awaitable));
    if (ec) keep_alive_ = false;
    co_return !ec;
}

asio::awaitable<bool> HttpConnection::chunk(std::string data) {
    bytes_out_ += data.size();
    stream_.expires_after(options_.limits.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk(asio::buffer(data)), as_tuple(use_awaitable));
    if (ec) keep_alive_ = false;
    co_return !ec;
}

asio::awaitable<bool> HttpConnection::end_chunked() {
    stream_.expires_after(options_.limits.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), as_tuple(use_awaitable));
    if (ec) keep_alive_ = false;
    co_return !ec;
}

asio::awaitable<bool> HttpConnection::begin_body(std::string content_type, std::uint64_t length) {
    status_ = 200;
    if (registry_.stopping()) keep_alive_ = false;
    http::response<http::empty_body> response{http::status::ok, 11};
    response.set(http::field::content_type, content_type);
    response.set("X-Request-Id", request_id_);
    set_node_header(response, *options_.node);
    for (const auto& [name, value] : cors_) response.set(name, value);
    for (const auto& [name, value] : rate_limit_fields(options_, caller_)) response.set(name, value);
    response.keep_alive(keep_alive_);
    response.content_length(length);
    body_left_ = length;
    http::response_serializer<http::empty_body> serializer{response};
    stream_.expires_after(options_.limits.write_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, as_tuple(use_awaitable));
    if (ec) keep_alive_ = false;
    co_return !ec;
}

asio::awaitable<bool> HttpConnection::write_body(std::string data) {
    if (data.size() > body_left_) co_return false;  // more than announced would corrupt the connection
    bytes_out_ += data.size();
    stream_.expires_after(options_.limits.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(data), as_tuple(use_awaitable));
    body_left_ -= n;
    if (ec) keep_alive_ = false;
    co_return !ec;
}

// The answer carries what every answer does (request id, CORS, RateLimit); the connection ends with the
// WebSocket, through lingering_close like any other.
asio::awaitable<std::unique_ptr<WebSocket>> HttpConnection::accept_websocket(const Request& request,
                                                                             std::string_view subprotocol) {
    keep_alive_ = false;
    HeaderList headers = cors_;
    for (auto& field : rate_limit_fields(options_, caller_)) headers.push_back(std::move(field));
    headers.emplace_back("X-Request-Id", request_id_);
    if (std::string node = options_.node->get(); !node.empty()) headers.emplace_back(kNodeHeader, std::move(node));
    if (!subprotocol.empty()) headers.emplace_back("Sec-WebSocket-Protocol", std::string(subprotocol));
    auto socket = std::make_unique<ServerWebSocket>(stream_, options_.limits, bytes_out_);
    const boost::system::error_code ec = co_await socket->accept(request, headers);
    status_ = socket->status();
    std::unique_ptr<WebSocket> accepted;
    if (!ec) accepted = std::move(socket);
    co_return accepted;
}

// Closing right after an error answer while the client still sends would make the kernel reset the
// connection and could discard the answer before the client reads it; so stop sending, then drain a little.
// TLS first says goodbye (close_notify); what follows is drained as raw bytes.
asio::awaitable<void> HttpConnection::lingering_close() {
    co_await stream_.shutdown_tls(std::chrono::milliseconds(500));
    boost::system::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::milliseconds(500));
    for (std::size_t drained = 0; !ec && drained < 1024 * 1024;) {
        std::size_t n = 0;
        std::tie(ec, n) = co_await stream_.tcp().async_read_some(buffer_.prepare(kReadChunk), as_tuple(use_awaitable));
        drained += n;
    }
    stream_.close();
}

}  // namespace jaild::gateway
