// The listening Unix socket: created with the configured mode and group, accepts connections and hands each
// to serve_connection. Runs on jaild's event loop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <string>

namespace jaild {

class Supervisor;
class SocketClaim;

class Server {
public:
    // `claim` holds the socket path for this jaild (socket_claim.h); it outlives the server.
    Server(boost::asio::io_context& io, Supervisor& supervisor, SocketClaim& claim);
    // Binds (the claim removed a stale socket file), sets mode and group, starts accepting. Throws on failure.
    void start();
    // Stops accepting and removes the socket file if it is still the one bound; connections in progress go on.
    void stop();

private:
    boost::asio::awaitable<void> accept_loop();

    boost::asio::io_context& io_;
    Supervisor& supervisor_;
    SocketClaim& claim_;
    std::string path_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace jaild
