#include "tests/support/websocket_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>

namespace jaild::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;

struct WebSocketClient::State {
    asio::io_context context;
    websocket::stream<tcp::socket> socket{context};
    beast::flat_buffer buffer;
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

}  // namespace

WebSocketClient::WebSocketClient(int port, const std::string& target, const Headers& headers,
                                 const std::vector<std::string>& protocols)
    : state_(std::make_unique<State>()) {
    boost::system::error_code ec;
    state_->socket.next_layer().connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
    if (ec) return;
    state_->socket.set_option(websocket::stream_base::decorator([headers, protocols](websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.set(name, value);
        if (!protocols.empty()) req.set(beast::http::field::sec_websocket_protocol, join(protocols));
    }));
    websocket::response_type response;
    state_->socket.handshake(response, "127.0.0.1:" + std::to_string(port), target, ec);
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
    state_->socket.text(true);
    state_->socket.write(asio::buffer(text), ec);
    return !ec;
}

bool WebSocketClient::send_binary(const std::string& bytes) {
    boost::system::error_code ec;
    state_->socket.binary(true);
    state_->socket.write(asio::buffer(bytes), ec);
    return !ec;
}

std::optional<std::string> WebSocketClient::receive(std::chrono::milliseconds timeout) {
    if (closed_) return std::nullopt;
    std::optional<boost::system::error_code> result;
    state_->buffer.clear();
    state_->socket.async_read(state_->buffer, [&result](boost::system::error_code ec, std::size_t) { result = ec; });
    state_->context.restart();
    state_->context.run_for(timeout);
    if (!result) {
        // Timed out: the read is cancelled and the stream given up (a test that waits longer has failed).
        state_->socket.next_layer().cancel();
        state_->context.restart();
        state_->context.run();
        closed_ = true;
        return std::nullopt;
    }
    if (*result) {
        closed_ = true;
        close_code_ = state_->socket.reason().code;
        close_reason_ = std::string(state_->socket.reason().reason.data(), state_->socket.reason().reason.size());
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
    state_->socket.close(websocket::close_code::normal, ec);
    closed_ = true;
}

}  // namespace jaild::test
