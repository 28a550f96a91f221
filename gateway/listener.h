// Accepts TCP connections and gives each an HttpConnection on its own strand; the io_context behind it is run
// by one thread per core. Owns the graceful shutdown: stop accepting, let in-flight requests finish within
// the grace period, then cancel them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/http_connection.h"
#include "gateway/options.h"
#include "gateway/tls_context.h"

namespace jaild::gateway {

class Listener {
public:
    // Binds and listens (throws boost::system::system_error when the address is taken). With `tls` (which
    // outlives it) every connection speaks TLS with the context current when it is accepted.
    Listener(boost::asio::io_context& context, const GatewayOptions& options, Authenticator& authenticator,
             const TlsContext* tls = nullptr);

    boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    void start();
    // SIGTERM: stops accepting, closes idle connections, waits for busy ones up to the grace period, cancels
    // the rest, then stops the io_context.
    void shutdown();

private:
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> drain();
    // The 503 of a connection over max_connections (the listener outlives it: it lives as long as the loop).
    boost::asio::awaitable<void> refuse(boost::asio::ip::tcp::socket socket);

    boost::asio::io_context& context_;
    const GatewayOptions& options_;
    Authenticator& authenticator_;
    const TlsContext* tls_;
    boost::asio::ip::tcp::acceptor acceptor_;
    ConnectionRegistry connections_;
};

}  // namespace jaild::gateway
