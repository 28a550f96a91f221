#include "gateway/http_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/detect_ssl.hpp>

namespace jaild::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

HttpStream::Layers open_stream(asio::ip::tcp::socket socket, asio::ssl::context* tls) {
    if (tls) return HttpStream::Layers(std::in_place_type<HttpStream::Tls>, std::move(socket), *tls);
    return HttpStream::Layers(std::in_place_type<beast::tcp_stream>, std::move(socket));
}

}  // namespace

HttpStream::HttpStream(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls)
    : context_(std::move(tls)), stream_(open_stream(std::move(socket), context_.get())) {}

beast::tcp_stream& HttpStream::tcp() {
    if (auto* tls = std::get_if<Tls>(&stream_)) return tls->next_layer();
    return std::get<beast::tcp_stream>(stream_);
}

asio::awaitable<boost::system::error_code> HttpStream::handshake(beast::flat_buffer& buffer,
                                                                 std::chrono::milliseconds timeout, bool& plain_http) {
    auto& tls = std::get<Tls>(stream_);
    tcp().expires_after(timeout);  // one deadline for the first bytes and the whole handshake
    auto [ec, is_tls] = co_await beast::async_detect_ssl(tcp(), buffer, as_tuple(use_awaitable));
    plain_http = !ec && !is_tls;
    if (!ec && is_tls) {
        std::size_t used = 0;
        std::tie(ec, used) =
            co_await tls.async_handshake(asio::ssl::stream_base::server, buffer.data(), as_tuple(use_awaitable));
        buffer.consume(used);
        shook_hands_ = !ec;
    }
    tcp().expires_never();
    co_return ec;
}

asio::awaitable<void> HttpStream::shutdown_tls(std::chrono::milliseconds timeout) {
    auto* tls = std::get_if<Tls>(&stream_);
    if (!tls || !shook_hands_) co_return;
    shook_hands_ = false;
    tcp().expires_after(timeout);
    // An error means the client left, or sent no close_notify in time: the connection closes either way.
    co_await tls->async_shutdown(as_tuple(use_awaitable));
}

}  // namespace jaild::gateway
