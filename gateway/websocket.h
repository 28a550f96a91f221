// WebSockets on the gateway's HTTP connections (RFC 6455, Boost.Beast's websocket::stream): what a route's
// handler holds once its connection is upgraded (WebSocket), the server side over the connection's own TCP or
// TLS stream (ServerWebSocket, made by HttpConnection), and the checks an upgrade request passes first.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/cors.h"
#include "gateway/http_stream.h"
#include "gateway/limits.h"
#include "gateway/routes.h"

namespace jaild::gateway {

// A route's WebSocket. One read and one write may be in progress at once (a reader and a writer coroutine),
// never two reads or two writes.
class WebSocket {
public:
    virtual ~WebSocket() = default;
    // The next message, whole, and whether it came in binary frames. websocket::error::closed once the client
    // closed; another error when it left, broke the protocol or sent more than the body limit at once.
    virtual boost::asio::awaitable<boost::system::error_code> read(std::string& message, bool& binary) = 0;
    // One text message.
    virtual boost::asio::awaitable<boost::system::error_code> write(std::string_view text) = 0;
    // The closing handshake with `code` and `reason`; a read in progress ends with it.
    virtual boost::asio::awaitable<void> close(std::uint16_t code, std::string_view reason) = 0;
    // Ends the connection at once: every operation in progress fails.
    virtual void abort() = 0;
};

// What keeps `request` from being a WebSocket handshake (RFC 6455 4.2.1): GET, Upgrade: websocket, Connection:
// upgrade, a Sec-WebSocket-Key and version 13. Empty when nothing.
std::string websocket_request_problem(const Request& request);

// Whether a browser page may open a WebSocket here: the request has no Origin (not a browser), or the page is
// the gateway's own origin (its Host), or it is one of cors_origins. A WebSocket is not subject to CORS, so
// without this any page a user visits could attach to processes through a gateway on their machine.
bool websocket_origin_allowed(const Request& request, const std::vector<std::string>& cors_origins);

// The Sec-WebSocket-Protocol value that carries the caller's key (`jaild.key.<key>`, authenticator.h), which the
// answer echoes as the chosen protocol; empty when the request offers none.
std::string key_subprotocol(const Request& request);

// The connection's stream as the WebSocket's next layer: reads wait as long as the WebSocket's own idle timeout
// allows (not the connection's write timeout), each write is bounded by the write timeout, and the closing
// of the socket (teardown) is left to the connection, which closes TLS and TCP as it does after any answer.
class WebSocketLayer {
public:
    using executor_type = HttpStream::executor_type;
    WebSocketLayer(HttpStream& stream, std::chrono::milliseconds write_timeout)
        : stream_(&stream), write_timeout_(write_timeout) {}
    executor_type get_executor() { return stream_->get_executor(); }
    HttpStream& stream() { return *stream_; }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return stream_->async_read_some_untimed(buffers, std::forward<Token>(token));
    }
    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        stream_->expires_after(write_timeout_);
        return stream_->async_write_some(buffers, std::forward<Token>(token));
    }

private:
    HttpStream* stream_;
    std::chrono::milliseconds write_timeout_;
};

// Beast's hooks for a layer of its own kind (found by argument-dependent lookup).
void beast_close_socket(WebSocketLayer& layer);
void teardown(boost::beast::role_type role, WebSocketLayer& layer, boost::beast::error_code& ec);
template <class TeardownHandler>
void async_teardown(boost::beast::role_type, WebSocketLayer& layer, TeardownHandler&& handler) {
    boost::asio::post(layer.get_executor(), boost::beast::bind_front_handler(std::forward<TeardownHandler>(handler),
                                                                             boost::beast::error_code()));
}

class ServerWebSocket final : public WebSocket {
public:
    // Over `stream` with the connection's limits: a message at most body_bytes, the client's silence detected
    // by pings after idle_timeout. `bytes_out` counts the text sent (the access log's bytes_out).
    ServerWebSocket(HttpStream& stream, const GatewayLimits& limits, std::uint64_t& bytes_out);

    // Answers the upgrade `request` with 101 and `headers`.
    boost::asio::awaitable<boost::system::error_code> accept(const Request& request, const HeaderList& headers);
    // The status accept() sent: 101, or Beast's refusal of a bad handshake; 0 before.
    unsigned status() const { return *status_; }

    boost::asio::awaitable<boost::system::error_code> read(std::string& message, bool& binary) override;
    boost::asio::awaitable<boost::system::error_code> write(std::string_view text) override;
    boost::asio::awaitable<void> close(std::uint16_t code, std::string_view reason) override;
    void abort() override;

private:
    boost::beast::websocket::stream<WebSocketLayer> socket_;
    boost::beast::flat_buffer buffer_;
    std::uint64_t& bytes_out_;
    std::shared_ptr<unsigned> status_ = std::make_shared<unsigned>(0);  // the decorator's copy writes it
};

}  // namespace jaild::gateway
