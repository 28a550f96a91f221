#include "gateway/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace jaild::gateway {

namespace asio = boost::asio;
using asio::ip::tcp;

Listener::Listener(asio::io_context& context, const GatewayOptions& options, Authenticator& authenticator,
                   const TlsContext* tls)
    : context_(context), options_(options), authenticator_(authenticator), tls_(tls), acceptor_(context) {
    const tcp::endpoint endpoint(asio::ip::make_address(options.listen_address), options.listen_port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

asio::awaitable<void> Listener::accept_loop() {
    for (;;) {
        // Each connection gets its own strand: its coroutine, its watchers and shutdown's posts never race.
        auto [ec, socket] =
            co_await acceptor_.async_accept(asio::make_strand(context_), asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: log and keep serving the connections we have.
            spdlog::warn("accept failed: {}", ec.message());
            continue;
        }
        if (connections_.count() >= options_.limits.max_connections) {
            // Over TLS the 503 would cost a handshake, the work the limit holds back: the connection is closed.
            if (tls_) continue;
            auto executor = socket.get_executor();
            asio::co_spawn(executor, refuse(std::move(socket)), asio::detached);
            continue;
        }
        auto connection = std::make_shared<HttpConnection>(std::move(socket), options_, connections_, authenticator_,
                                                           tls_ ? tls_->current() : nullptr);
        connections_.add(connection);
        asio::co_spawn(connection->executor(), HttpConnection::run(connection), asio::detached);
    }
}

namespace {

// The whole 503 answer, with the node's id once the gateway knows it.
std::string too_many_connections(const NodeIdentity* node) {
    static const std::string kBody = R"({"error":"too many connections","field":null})";
    std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        "Connection: close\r\nX-Request-Id: " +
        new_request_id() + "\r\n";
    if (const std::string id = node ? node->get() : std::string(); !id.empty())
        answer += "X-Jaild-Node: " + id + "\r\n";
    return answer + "Content-Length: " + std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
}

}  // namespace

asio::awaitable<void> Listener::refuse(tcp::socket socket) {
    const std::string busy = too_many_connections(options_.node.get());
    // Drain what the client sends before closing: closing with unread data would reset the connection and
    // could destroy the 503 before the client reads it.
    boost::beast::tcp_stream stream(std::move(socket));
    stream.expires_after(std::chrono::seconds(2));
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(busy), asio::as_tuple(asio::use_awaitable));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    char sink[1024];
    while (!ec)
        std::tie(ec, n) = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
}

void Listener::shutdown() {
    asio::post(acceptor_.get_executor(), [this] {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        connections_.begin_stopping();
        asio::co_spawn(context_, drain(), asio::detached);
    });
}

asio::awaitable<void> Listener::drain() {
    asio::steady_timer timer(context_);
    const auto deadline = std::chrono::steady_clock::now() + options_.limits.shutdown_grace;
    while (connections_.count() > 0 && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(std::chrono::milliseconds(50));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (connections_.count() > 0) {
        spdlog::warn("shutdown: cancelling {} connection(s) still busy after the grace period", connections_.count());
        connections_.close_all();
        // Cancelled handlers close their jaild connections (which kills their jobs) as they unwind.
        timer.expires_after(std::chrono::seconds(1));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (options_.metrics_only) co_return;  // the API's listener, drained last, stops the io_context
    context_.stop();
}

}  // namespace jaild::gateway
