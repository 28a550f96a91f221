#include "gateway/node_id_learner.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "common/jaild_client.h"
#include "jaild.pb.h"

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

// The node id jaild gives, or "" when it cannot be asked now.
asio::awaitable<std::string> ask_node_id(const std::string& socket) {
    JaildClient client(co_await asio::this_coro::executor);
    if (co_await client.async_connect(socket)) co_return std::string();
    v1::ClientMessage message;
    message.mutable_node();
    v1::ServerMessage reply;
    if (co_await client.async_send(message) || co_await client.async_receive(reply) || !reply.has_node())
        co_return std::string();
    co_return reply.node().node_id();
}

}  // namespace

NodeIdLearner::NodeIdLearner(asio::io_context& io, std::string socket, NodeIdentity& node)
    : strand_(asio::make_strand(io)), pause_(strand_), socket_(std::move(socket)), node_(node) {}

void NodeIdLearner::start() { asio::co_spawn(strand_, learn(), asio::detached); }

void NodeIdLearner::stop() {
    asio::post(strand_, [this] {
        stopped_ = true;
        pause_.cancel();
    });
}

asio::awaitable<void> NodeIdLearner::learn() {
    while (!stopped_) {
        if (std::string id = co_await ask_node_id(socket_); !id.empty()) {
            node_.set(id);
            spdlog::info("jaild's node id is {}", id);
            co_return;
        }
        if (!node_.get().empty()) co_return;  // a GET /health learnt it meanwhile
        pause_.expires_after(std::chrono::seconds(1));
        auto [ec] = co_await pause_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
    }
}

}  // namespace jaild::gateway
