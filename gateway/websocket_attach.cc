#include "gateway/websocket_attach.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "common/jaild_client.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/live_calls.h"
#include "gateway/live_codec.h"
#include "gateway/result_rendering.h"
#include "gateway/websocket.h"

namespace jaild::gateway {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;

namespace {

// The close codes (RFC 6455 7.4.1) the attach ends with.
constexpr std::uint16_t kNormal = websocket::close_code::normal;             // the process exited
constexpr std::uint16_t kJaildGone = websocket::close_code::internal_error;  // jaild closed or failed

// One attach: the two directions share the WebSocket and the jaild connection; each ends the other. Both write
// to the WebSocket (output; refusals of bad frames), one at a time: Beast allows a single write in progress.
struct Attach {
    WebSocket& socket;
    JaildClient& jaild;
    asio::steady_timer write_done;
    bool writing = false;
    bool client_left = false;  // the client closed or went away: nothing more to send it
};

// Waits for the WebSocket's writer to finish, then is the writer (both directions run on the connection's
// strand).
asio::awaitable<void> take_writer(Attach& attach) {
    while (attach.writing) {
        attach.write_done.expires_at(asio::steady_timer::time_point::max());
        co_await attach.write_done.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    attach.writing = true;
}

void release_writer(Attach& attach) {
    attach.writing = false;
    attach.write_done.cancel();
}

asio::awaitable<bool> write_lines(Attach& attach, const std::vector<std::string>& lines) {
    co_await take_writer(attach);
    boost::system::error_code ec;
    for (const std::string& line : lines) {
        if (!ec) ec = co_await attach.socket.write(line);
    }
    release_writer(attach);
    co_return !ec;
}

// jaild → client: output lines and the exit, then the closing handshake. An Error from jaild is shown as an
// error frame and the attach goes on until jaild closes it.
asio::awaitable<void> relay_to_client(Attach& attach) {
    OutputLines lines;
    v1::ServerMessage message;
    std::string reason = "the process exited";
    bool exited = false;
    while (!exited) {
        const std::error_code ec = co_await attach.jaild.async_receive(message);
        if (ec) {
            reason = "jaild connection lost: " + ec.message();
            break;
        }
        std::vector<std::string> out;
        if (message.has_error()) {
            out.push_back(stream_error_line(message.error().message(), message.error().field()));
        } else {
            out = lines.event(message, exited);
        }
        if (out.empty()) continue;
        if (!co_await write_lines(attach, out)) {
            attach.socket.abort();  // the client is gone: its read ends too
            co_return;
        }
    }
    attach.jaild.close();
    if (attach.client_left) co_return;
    co_await take_writer(attach);
    co_await attach.socket.close(exited ? kNormal : kJaildGone, reason);
    release_writer(attach);
}

// One client frame as the message to send to jaild; an error frame's text when it is not one.
std::string to_jaild(std::string frame, bool binary, v1::ClientMessage& message) {
    if (binary) {
        message = attach_stdin(std::move(frame));
        return {};
    }
    auto parsed = parse_attach_frame(frame);
    if (auto* error = std::get_if<FieldError>(&parsed)) return stream_error_line(error->message, error->field);
    message = std::move(std::get<v1::ClientMessage>(parsed));
    return {};
}

// client → jaild: input, signals and resizes. The client closing or leaving closes the jaild connection, which
// ends the other direction (and detaches; the process goes on).
asio::awaitable<void> relay_to_jaild(Attach& attach) {
    std::string frame;
    bool binary = false;
    for (;;) {
        const boost::system::error_code ec = co_await attach.socket.read(frame, binary);
        if (ec) break;
        v1::ClientMessage message;
        const std::string refusal = to_jaild(std::move(frame), binary, message);
        if (!refusal.empty()) {
            const std::vector<std::string> told{refusal};
            if (!co_await write_lines(attach, told)) break;
            continue;
        }
        const std::error_code send_ec = co_await attach.jaild.async_send(message);
        if (send_ec) break;
    }
    attach.client_left = true;
    attach.jaild.close();
}

// Both directions at once, until both ended.
asio::awaitable<void> relay(WebSocket& socket, JaildClient& jaild) {
    using namespace asio::experimental::awaitable_operators;
    Attach attach{socket, jaild, asio::steady_timer(jaild.socket().get_executor())};
    co_await (relay_to_client(attach) && relay_to_jaild(attach));
}

}  // namespace

asio::awaitable<void> handle_process_attach(Exchange& exchange) {
    auto target = live_target(exchange, TargetKind::process);
    auto flags = parse_query_flags(exchange.request.target(), {"live"});
    const std::string problem = websocket_request_problem(exchange.request);
    std::optional<FieldError> invalid;
    if (!problem.empty()) invalid = FieldError{"Upgrade", problem};
    if (auto* error = std::get_if<FieldError>(&flags)) invalid = *error;
    if (auto* error = std::get_if<FieldError>(&target)) invalid = *error;
    if (invalid) {
        co_await send_field_error(exchange, *invalid);
        co_return;
    }
    if (!websocket_origin_allowed(exchange.request, exchange.options.cors_origins)) {
        const std::string body = error_body("a page of this origin may not open a WebSocket here", "Origin");
        co_await send_json(exchange, 403, body);
        co_return;
    }
    const LiveTarget& process = std::get<LiveTarget>(target);
    v1::ProcessInfo info;
    if (!co_await look_up_process(exchange, process, info)) co_return;
    v1::ClientMessage message;
    v1::ProcessAttach& request = *message.mutable_process_attach();
    request.set_session_id(process.session_id);
    request.set_pid(process.pid);
    request.set_live_only(std::get<std::map<std::string, bool>>(flags)["live"]);
    JaildClient jaild(co_await asio::this_coro::executor);
    if (!co_await send_request(exchange, jaild, message)) co_return;
    std::string protocol = key_subprotocol(exchange.request);
    std::unique_ptr<WebSocket> socket = co_await exchange.responder.accept_websocket(exchange.request, protocol);
    if (!socket) co_return;
    co_await relay(*socket, jaild);
}

}  // namespace jaild::gateway
