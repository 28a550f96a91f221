// One HTTP/1.1 connection and the registry of all of them (a jaild session is another thing: session_routes.h):
// reads requests under the limits of GatewayLimits (header and body size, header, body, idle and write
// timeouts), routes them, and answers them, over plain TCP or TLS (HttpStream). It runs as a coroutine on its
// own strand; while a handler runs, a concurrent read watches the socket so a client that hangs up cancels its
// job.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/authenticator.h"
#include "gateway/cors.h"
#include "gateway/http_stream.h"
#include "gateway/options.h"
#include "gateway/routes.h"

namespace jaild::gateway {

// A fresh X-Request-Id: 32 random hex digits. Any thread.
std::string new_request_id();

class HttpConnection;
class UploadBody;

// Every live HTTP connection, so shutdown can close the idle ones at once and the busy ones after the grace
// period.
class ConnectionRegistry {
public:
    void add(const std::shared_ptr<HttpConnection>& connection);
    std::size_t count() const { return count_.load(); }
    bool stopping() const { return stopping_.load(); }
    void begin_stopping();  // no more keep-alive; idle connections are closed now
    void close_all();       // the grace period is over: cancel whatever is still running

private:
    friend class HttpConnection;
    template <class F>
    void for_each(F f);

    mutable std::mutex mutex_;
    std::list<std::weak_ptr<HttpConnection>> connections_;
    std::atomic<std::size_t> count_{0};
    std::atomic<bool> stopping_{false};
};

class HttpConnection : public Responder, public std::enable_shared_from_this<HttpConnection> {
public:
    // Speaks TLS with `tls` when it is not null.
    HttpConnection(boost::asio::ip::tcp::socket socket, const GatewayOptions& options, ConnectionRegistry& registry,
                   Authenticator& authenticator, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
    ~HttpConnection() override;

    // The connection's whole life; spawn it on the socket's strand.
    static boost::asio::awaitable<void> run(std::shared_ptr<HttpConnection> self);

    // Both run on the connection's strand (ConnectionRegistry posts them there).
    boost::asio::any_io_executor executor() { return stream_.get_executor(); }
    void close_if_idle();
    void close();

    boost::asio::awaitable<bool> send(Response response) override;
    boost::asio::awaitable<bool> begin_chunked(std::string content_type) override;
    boost::asio::awaitable<bool> chunk(std::string data) override;
    boost::asio::awaitable<bool> end_chunked() override;
    boost::asio::awaitable<bool> begin_body(std::string content_type, std::uint64_t length) override;
    boost::asio::awaitable<bool> write_body(std::string data) override;
    boost::asio::awaitable<std::unique_ptr<WebSocket>> accept_websocket(const Request& request,
                                                                        std::string_view subprotocol) override;

private:
    boost::asio::awaitable<bool> start_tls();
    boost::asio::awaitable<void> refuse_plain_http();
    boost::asio::awaitable<bool> wait_for_request();
    boost::asio::awaitable<bool> read_and_answer();
    std::optional<Response> check_caller(const Request& request);
    boost::asio::awaitable<void> answer(Request& request, BodyReader* body = nullptr);
    boost::asio::awaitable<bool> answer_streamed(
        boost::beast::http::request_parser<boost::beast::http::buffer_body>& parser);
    boost::asio::awaitable<void> run_handler(Handler handler, Exchange& exchange, bool watch);
    boost::asio::awaitable<void> watch_peer();
    boost::asio::awaitable<void> reject(boost::system::error_code ec, bool header_done);
    void arm_read_deadline(std::chrono::milliseconds timeout);
    void wait_read_deadline(std::chrono::milliseconds timeout, unsigned armed);
    bool disarm_read_deadline();
    boost::asio::awaitable<void> lingering_close();
    void acknowledge_now();

    HttpStream stream_;
    // Reading a request is timed by this timer, not by stream_'s own timeout, which would close the socket
    // before the client could be told 408.
    boost::asio::steady_timer read_deadline_;
    unsigned read_deadline_generation_ = 0;
    bool read_timed_out_ = false;
    boost::beast::flat_buffer buffer_;
    const GatewayOptions& options_;
    ConnectionRegistry& registry_;
    Authenticator& authenticator_;
    boost::asio::ip::address peer_;
    std::string request_id_;
    Caller caller_;                    // who sends the current request (authenticator_ fills it)
    std::optional<Response> refused_;  // the answer to the current request when its caller is refused
    HeaderList cors_;                  // what every answer to the current request carries for browsers
    unsigned status_ = 0;
    bool keep_alive_ = true;
    bool busy_ = false;
    std::uint64_t body_left_ = 0;        // bytes a begin_body() answer still owes
    std::uint64_t bytes_out_ = 0;        // body bytes of the current answer, for the access log
    UploadBody* unread_body_ = nullptr;  // the body a streams_body handler reads, while it runs
};

}  // namespace jaild::gateway
