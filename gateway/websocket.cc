#include "gateway/websocket.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "gateway/authenticator.h"

namespace jaild::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    return out;
}

// Whether a comma-separated header value lists `token` (case-insensitive), as Connection: keep-alive, Upgrade.
bool lists_token(std::string_view value, std::string_view token) {
    const std::string list = lower(value);
    std::string_view rest = list;
    while (!rest.empty()) {
        std::string_view item = rest.substr(0, rest.find(','));
        rest.remove_prefix(std::min(item.size() + 1, rest.size()));
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item == token) return true;
    }
    return false;
}

// The headers of the 101 answer: the connection's usual ones and the chosen protocol.
websocket::stream_base::decorator answer_headers(HeaderList headers, std::shared_ptr<unsigned> status) {
    return websocket::stream_base::decorator(
        [headers = std::move(headers), status = std::move(status)](websocket::response_type& res) {
            for (const auto& [name, value] : headers) res.set(name, value);
            res.set(beast::http::field::server, "jaild-gateway");
            *status = res.result_int();
        });
}

}  // namespace

std::string websocket_request_problem(const Request& request) {
    if (request.method() != http::verb::get) return "a WebSocket is opened with GET";
    if (!lists_token(request[http::field::upgrade], "websocket"))
        return "this route is a WebSocket: send Upgrade: websocket and Connection: Upgrade";
    if (!lists_token(request[http::field::connection], "upgrade")) return "Connection must list Upgrade";
    if (request[http::field::sec_websocket_key].empty()) return "Sec-WebSocket-Key is required";
    if (request[http::field::sec_websocket_version] != "13") return "Sec-WebSocket-Version must be 13";
    return {};
}

bool websocket_origin_allowed(const Request& request, const std::vector<std::string>& cors_origins) {
    const std::string_view origin = request[http::field::origin];
    if (origin.empty()) return true;
    if (cors_allowed(cors_headers(cors_origins, origin))) return true;
    const std::size_t scheme = origin.find("://");
    if (scheme == std::string_view::npos) return false;
    const std::string_view host = request[http::field::host];
    return !host.empty() && lower(origin.substr(scheme + 3)) == lower(host);
}

std::string key_subprotocol(const Request& request) {
    for (const std::string_view protocol : offered_subprotocols(request))
        if (protocol.starts_with(kKeySubprotocol)) return std::string(protocol);
    return {};
}

void beast_close_socket(WebSocketLayer& layer) { layer.stream().close(); }

void teardown(beast::role_type, WebSocketLayer&, beast::error_code& ec) { ec = {}; }

ServerWebSocket::ServerWebSocket(HttpStream& stream, const GatewayLimits& limits, std::uint64_t& bytes_out)
    : socket_(stream, limits.write_timeout), bytes_out_(bytes_out) {
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = limits.write_timeout;  // our 101, and the closing handshake
    timeouts.idle_timeout = limits.idle_timeout;        // then a ping; no answer in as long again: closed
    timeouts.keep_alive_pings = true;
    socket_.set_option(timeouts);
    socket_.read_message_max(limits.body_bytes);
}

asio::awaitable<boost::system::error_code> ServerWebSocket::accept(const Request& request, const HeaderList& headers) {
    socket_.set_option(answer_headers(headers, status_));
    // The connection's own timeouts are its, not the WebSocket's: a read waits until the client says something.
    socket_.next_layer().stream().expires_never();
    auto [ec] = co_await socket_.async_accept(request, as_tuple(use_awaitable));
    co_return ec;
}

asio::awaitable<boost::system::error_code> ServerWebSocket::read(std::string& message, bool& binary) {
    buffer_.clear();
    auto [ec, n] = co_await socket_.async_read(buffer_, as_tuple(use_awaitable));
    message = beast::buffers_to_string(buffer_.data());
    binary = !socket_.got_text();
    co_return ec;
}

asio::awaitable<boost::system::error_code> ServerWebSocket::write(std::string_view text) {
    socket_.text(true);
    auto [ec, n] = co_await socket_.async_write(asio::buffer(text.data(), text.size()), as_tuple(use_awaitable));
    bytes_out_ += n;
    co_return ec;
}

asio::awaitable<void> ServerWebSocket::close(std::uint16_t code, std::string_view reason) {
    websocket::close_reason why(code);
    why.reason.assign(reason.data(), std::min(reason.size(), why.reason.max_size()));
    co_await socket_.async_close(why, as_tuple(use_awaitable));
}

void ServerWebSocket::abort() { socket_.next_layer().stream().close(); }

}  // namespace jaild::gateway
