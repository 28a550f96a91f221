#include "common/jaild_client.h"

#include <sys/un.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/framing.h"

namespace jaild {

namespace asio = boost::asio;
using stream_protocol = asio::local::stream_protocol;

namespace {

// Asio's endpoint throws for a path longer than sockaddr_un can hold; callers get an error code instead.
bool fits(const std::string& socket_path) { return socket_path.size() < sizeof(sockaddr_un::sun_path); }

}  // namespace

std::error_code JaildClient::connect(const std::string& socket_path) {
    if (!fits(socket_path)) return std::make_error_code(std::errc::filename_too_long);
    boost::system::error_code ec;
    socket_.connect(stream_protocol::endpoint(socket_path), ec);
    return ec;
}

std::error_code JaildClient::send(const v1::ClientMessage& message) { return framing::write_frame(socket_, message); }

std::error_code JaildClient::receive(v1::ServerMessage& message) {
    if (auto ec = framing::read_frame(socket_, client_max_frame_bytes, buffer_)) return ec;
    if (!framing::decode(buffer_, message)) return framing::errc::malformed;
    return {};
}

asio::awaitable<std::error_code> JaildClient::async_connect(const std::string& socket_path) {
    if (!fits(socket_path)) co_return std::make_error_code(std::errc::filename_too_long);
    auto [ec] =
        co_await socket_.async_connect(stream_protocol::endpoint(socket_path), asio::as_tuple(asio::use_awaitable));
    co_return ec;
}

asio::awaitable<std::error_code> JaildClient::async_send(const v1::ClientMessage& message) {
    const std::string frame = framing::encode(message);
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(frame), asio::as_tuple(asio::use_awaitable));
    co_return ec;
}

asio::awaitable<std::error_code> JaildClient::async_receive(v1::ServerMessage& message) {
    if (auto ec = co_await framing::async_read_frame(socket_, client_max_frame_bytes, buffer_)) co_return ec;
    if (!framing::decode(buffer_, message)) co_return framing::errc::malformed;
    co_return std::error_code{};
}

void JaildClient::close() {
    boost::system::error_code ignored;
    socket_.shutdown(stream_protocol::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace jaild
