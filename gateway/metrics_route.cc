#include "gateway/metrics_route.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

#include "common/jaild_client.h"
#include "gateway/metrics.h"

namespace jaild::gateway {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

// A scrape must not hang on a stuck jaild: past this, jaild counts as down for this scrape.
constexpr std::chrono::milliseconds kStatsTimeout{1000};

// jaild's Stats, or nothing when it cannot be reached or answers anything else.
asio::awaitable<std::optional<v1::Stats>> ask_stats(JaildClient& client, const Exchange& exchange) {
    v1::ClientMessage message;
    message.set_request_id(exchange.request_id);
    message.set_principal(exchange.caller.principal);
    message.mutable_stats();
    std::error_code ec = co_await client.async_connect(exchange.options.jaild_socket);
    if (!ec) ec = co_await client.async_send(message);
    v1::ServerMessage reply;
    if (!ec) ec = co_await client.async_receive(reply);
    if (ec || !reply.has_stats()) co_return std::nullopt;
    co_return reply.stats();
}

asio::awaitable<std::optional<v1::Stats>> stats_within_timeout(const Exchange& exchange) {
    JaildClient client(co_await asio::this_coro::executor);
    asio::steady_timer deadline(co_await asio::this_coro::executor, kStatsTimeout);
    auto first = co_await (ask_stats(client, exchange) || deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    client.close();
    if (first.index() == 1) co_return std::nullopt;
    co_return std::get<0>(std::move(first));
}

}  // namespace

asio::awaitable<void> handle_metrics(Exchange& exchange) {
    const std::optional<v1::Stats> stats = co_await stats_within_timeout(exchange);
    Response response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.set(http::field::cache_control, "no-store");
    response.body() = gateway_metrics().serialize(stats ? &*stats : nullptr);
    co_await exchange.responder.send(std::move(response));
}

}  // namespace jaild::gateway
