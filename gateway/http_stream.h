// The bytes of one HTTP connection: a timed TCP stream (Beast's tcp_stream), or TLS over one. Beast's HTTP
// reads and writes take it as they take any stream; the TCP layer under both keeps the timeouts
// (expires_after) and the socket that deadlines cancel and shutdown closes.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <variant>

namespace jaild::gateway {

class HttpStream {
public:
    using executor_type = boost::beast::tcp_stream::executor_type;
    using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
    using Layers = std::variant<boost::beast::tcp_stream, Tls>;

    // Plain HTTP when `tls` is null; otherwise TLS with that context (kept alive as long as the stream).
    HttpStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> tls);

    executor_type get_executor() { return tcp().get_executor(); }
    boost::beast::tcp_stream& tcp();
    boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }
    bool tls() const { return std::holds_alternative<Tls>(stream_); }
    void expires_after(std::chrono::milliseconds timeout) { tcp().expires_after(timeout); }
    void expires_never() { tcp().expires_never(); }
    void close() { tcp().close(); }

    // TLS: reads the client's first bytes and shakes hands, each within `timeout`. A client that speaks plain
    // HTTP ends it with `plain_http` true (and no error): its first bytes are left in `buffer`.
    boost::asio::awaitable<boost::system::error_code> handshake(boost::beast::flat_buffer& buffer,
                                                                std::chrono::milliseconds timeout, bool& plain_http);
    // TLS after a handshake: sends close_notify and waits for the client's within `timeout`; errors are the
    // client's business. Nothing otherwise.
    boost::asio::awaitable<void> shutdown_tls(std::chrono::milliseconds timeout);

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                if (auto* tls = std::get_if<Tls>(&stream_))
                    tls->async_read_some(b, std::move(handler));
                else
                    std::get<boost::beast::tcp_stream>(stream_).async_read_some(b, std::move(handler));
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                if (auto* tls = std::get_if<Tls>(&stream_))
                    tls->async_write_some(b, std::move(handler));
                else
                    std::get<boost::beast::tcp_stream>(stream_).async_write_some(b, std::move(handler));
            },
            token, buffers);
    }

    // A read that no timeout of the TCP layer ends, only an error, a hang-up or cancellation: while a handler
    // runs, the writes of its answer set that layer's timeouts.
    template <class MutableBuffers, class Token>
    auto async_read_some_untimed(const MutableBuffers& buffers, Token&& token) {
        if (!tls()) return socket().async_read_some(buffers, std::forward<Token>(token));
        tcp().expires_never();  // a write in progress keeps its own timeout
        return async_read_some(buffers, std::forward<Token>(token));
    }

private:
    std::shared_ptr<boost::asio::ssl::context> context_;
    Layers stream_;
    bool shook_hands_ = false;
};

}  // namespace jaild::gateway
