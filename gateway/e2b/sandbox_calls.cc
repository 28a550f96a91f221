#include "gateway/e2b/sandbox_calls.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/e2b/connect_envelope.h"
#include "gateway/e2b/control_codec.h"
#include "gateway/e2b/envd_request.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/session_codec.h"

namespace jaild::gateway::e2b {

namespace asio = boost::asio;

namespace {

v1::Error made_up(v1::ErrorCode code, std::string message) {
    v1::Error error;
    error.set_code(code);
    error.set_message(std::move(message));
    return error;
}

}  // namespace

asio::awaitable<std::optional<v1::Error>> open_jaild(Exchange& exchange, JaildClient& client,
                                                     v1::ClientMessage& message) {
    stamp(message, exchange);
    std::error_code ec = co_await client.async_connect(exchange.options.jaild_socket);
    if (!ec) ec = co_await client.async_send(message);
    if (ec) co_return made_up(v1::ERROR_CODE_UNAVAILABLE, "jaild unreachable: " + ec.message());
    co_return std::nullopt;
}

asio::awaitable<std::optional<v1::Error>> ask_jaild(Exchange& exchange, v1::ClientMessage& message,
                                                    v1::ServerMessage::KindCase expected, v1::ServerMessage& reply) {
    JaildClient client(co_await asio::this_coro::executor);
    std::optional<v1::Error> failure = co_await open_jaild(exchange, client, message);
    if (!failure) {
        const std::error_code ec = co_await client.async_receive(reply);
        if (ec)
            failure = made_up(v1::ERROR_CODE_UNAVAILABLE, "jaild closed the connection: " + ec.message());
        else if (reply.has_error())
            failure = reply.error();
        else if (!answer_is(reply, expected))
            failure = made_up(v1::ERROR_CODE_INTERNAL, "jaild answered with an unexpected message");
    }
    client.close();
    co_return failure;
}

asio::awaitable<std::optional<ConnectError>> ask_envd(Exchange& exchange, v1::ClientMessage& message,
                                                      v1::ServerMessage::KindCase expected, v1::ServerMessage& reply) {
    const std::optional<v1::Error> error = co_await ask_jaild(exchange, message, expected, reply);
    std::optional<ConnectError> failure;
    if (error) failure = connect_error(*error);
    co_return failure;
}

asio::awaitable<void> send_unary_error(Exchange& exchange, ConnectCode code, std::string_view message) {
    const ConnectError error{code, std::string(message)};
    const std::string body = error_json(error);
    co_await exchange.responder.send(json_response(http_status(code), body));
}

asio::awaitable<void> send_plain_error(Exchange& exchange, unsigned status, std::string_view message) {
    const E2bError error{status, std::string(message)};
    const std::string body = error_body(error);
    co_await exchange.responder.send(json_response(status, body, status == 429 || status == 503));
}

asio::awaitable<void> stream_error(Exchange& exchange, const ConnectError& error) {
    const bool begun = co_await exchange.responder.begin_chunked("application/connect+json");
    const std::string end = encode_end_stream(error);
    bool sent = false;
    if (begun) sent = co_await exchange.responder.chunk(end);
    if (sent) co_await exchange.responder.end_chunked();
}

asio::awaitable<bool> readable_within(JaildClient& client, std::chrono::milliseconds interval) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, interval);
    const auto which = co_await (
        client.socket().async_wait(JaildClient::socket_type::wait_read, asio::as_tuple(asio::use_awaitable)) ||
        timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    co_return which.index() == 0;
}

bool cancelled(const asio::cancellation_state& state) { return state.cancelled() != asio::cancellation_type::none; }

}  // namespace jaild::gateway::e2b
