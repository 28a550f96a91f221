// A connection to jaild's Unix socket speaking the framed protocol. jailctl uses the blocking calls, the
// gateway the coroutine ones; one connection carries one request (see proto/jaild.proto).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <string>
#include <system_error>

#include "jaild.pb.h"

namespace jaild {

inline constexpr std::size_t client_max_frame_bytes = 64 * 1024 * 1024;

class JaildClient {
public:
    using socket_type = boost::asio::local::stream_protocol::socket;

    explicit JaildClient(const boost::asio::any_io_executor& executor) : socket_(executor) {}

    std::error_code connect(const std::string& socket_path);
    std::error_code send(const v1::ClientMessage& message);
    // Blocks for the next message. boost::asio::error::eof when jaild closed the connection.
    std::error_code receive(v1::ServerMessage& message);

    boost::asio::awaitable<std::error_code> async_connect(const std::string& socket_path);
    boost::asio::awaitable<std::error_code> async_send(const v1::ClientMessage& message);
    boost::asio::awaitable<std::error_code> async_receive(v1::ServerMessage& message);

    void close();
    socket_type& socket() { return socket_; }

private:
    socket_type socket_;
    std::string buffer_;
};

}  // namespace jaild
