// Learns jaild's node id (node_identity.h) when the gateway starts, before any GET /health: asks until jaild
// answers, once a second meanwhile.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <string>

#include "gateway/node_identity.h"

namespace jaild::gateway {

// Asks jaild at `socket` for its node id from start() until it answers (once a second meanwhile), then stores
// it; stop() (at shutdown) ends the asking, so the io_context can run out of work.
class NodeIdLearner {
public:
    NodeIdLearner(boost::asio::io_context& io, std::string socket, NodeIdentity& node);
    void start();
    void stop();

private:
    boost::asio::awaitable<void> learn();

    boost::asio::strand<boost::asio::io_context::executor_type> strand_;  // learn() and stop() run on it
    boost::asio::steady_timer pause_;
    std::string socket_;
    NodeIdentity& node_;
    bool stopped_ = false;
};

}  // namespace jaild::gateway
