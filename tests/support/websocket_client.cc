#include "tests/support/websocket_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cctype>
#include <variant>

namespace jaild::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;

using PlainSocket = websocket::stream<tcp::socket>;
using TlsSocket = websocket::stream<beast::ssl_stream<tcp::socket>>;

struct WebSocketClient::State {
    asio::io_context context;
    asio::ssl::context tls{asio::ssl::context::tls_client};
    std::variant<std::monostate, PlainSocket, TlsSocket> socket;
    beast::flat_buffer buffer;

    // Calls f on the WebSocket, plain or TLS (nothing before one is made).
    template <class F>
    void with(F f) {
        std::visit(
            [&](auto& s) {
                if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) f(s);
            },
            socket);
    }
};

namespace {

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

tcp::endpoint loopback(int port) {
    return tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
}

}  // namespace

WebSocketClient::WebSocketClient(int port, const std::string& target, const Headers& headers,
                                 const std::vector<std::string>& protocols, const std::string& ca_file)
    : state_(std::make_unique<State>()) {
    boost::system::error_code ec;
    if (ca_file.empty()) {
        auto& socket = state_->socket.emplace<PlainSocket>(state_->context);
        socket.next_layer().connect(loopback(port), ec);
    } else {
        state_->tls.load_verify_file(ca_file);
        auto& socket = state_->socket.emplace<TlsSocket>(state_->context, state_->tls);
        auto& tls = socket.next_layer();
        tls.set_verify_mode(asio::ssl::verify_peer);
        tls.set_verify_callback(asio::ssl::host_name_verification("localhost"));
        SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
        beast::get_lowest_layer(socket).connect(loopback(port), ec);
        if (!ec) tls.handshake(asio::ssl::stream_base::client, ec);
    }
    if (ec) {
        closed_ = true;
        return;
    }
    websocket::response_type response;
    state_->with([&](auto& socket) {
        socket.set_option(websocket::stream_base::decorator([headers, protocols](websocket::request_type& req) {
            for (const auto& [name, value] : headers) req.set(name, value);
            if (!protocols.empty()) req.set(beast::http::field::sec_websocket_protocol, join(protocols));
        }));
        socket.handshake(response, "127.0.0.1:" + std::to_string(port), target, ec);
    });
    status_ = static_cast<int>(response.result_int());
    for (const auto& field : response) headers_[lower(std::string(field.name_string()))] = std::string(field.value());
    body_ = response.body();
    if (ec) closed_ = true;
}

WebSocketClient::~WebSocketClient() = default;

std::string WebSocketClient::header(const std::string& name) const {
    auto it = headers_.find(name);
    return it == headers_.end() ? std::string() : it->second;
}

bool WebSocketClient::send_text(const std::string& text) {
    boost::system::error_code ec;
    state_->with([&](auto& socket) {
        socket.text(true);
        socket.write(asio::buffer(text), ec);
    });
    return !ec;
}

bool WebSocketClient::send_binary(const std::string& bytes) {
    boost::system::error_code ec;
    state_->with([&](auto& socket) {
        socket.binary(true);
        socket.write(asio::buffer(bytes), ec);
    });
    return !ec;
}

std::optional<std::string> WebSocketClient::receive(std::chrono::milliseconds timeout) {
    if (closed_) return std::nullopt;
    std::optional<boost::system::error_code> result;
    state_->buffer.clear();
    state_->with([&](auto& socket) {
        socket.async_read(state_->buffer, [&result](boost::system::error_code ec, std::size_t) { result = ec; });
    });
    state_->context.restart();
    state_->context.run_for(timeout);
    if (!result) {
        // Timed out: the read is cancelled and the stream given up (a test that waits longer has failed).
        state_->with([](auto& socket) { beast::get_lowest_layer(socket).cancel(); });
        state_->context.restart();
        state_->context.run();
        closed_ = true;
        return std::nullopt;
    }
    if (*result) {
        closed_ = true;
        state_->with([&](auto& socket) {
            close_code_ = socket.reason().code;
            close_reason_ = std::string(socket.reason().reason.data(), socket.reason().reason.size());
        });
        return std::nullopt;
    }
    return beast::buffers_to_string(state_->buffer.data());
}

std::vector<std::string> WebSocketClient::receive_all(std::chrono::milliseconds timeout) {
    std::vector<std::string> messages;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto message = receive(left);
        if (message) messages.push_back(std::move(*message));
    }
    return messages;
}

void WebSocketClient::close() {
    if (closed_) return;
    boost::system::error_code ec;
    state_->with([&](auto& socket) { socket.close(websocket::close_code::normal, ec); });
    closed_ = true;
}

}  // namespace jaild::test
