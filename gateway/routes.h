// The HTTP routes: a table of {method, path pattern, handler}. 404 and 405 (with Allow) come from the table, so
// a new endpoint is one row. A pattern's "{id}" matches one path segment and a last "{path...}" the rest of the
// path, slashes included; the handler gets them as they were sent (still percent-encoded). Handlers answer
// through a Responder, which the HTTP connection (HttpConnection) implements.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/caller.h"
#include "gateway/options.h"
#include "gateway/rejection.h"

namespace jaild::gateway {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

class WebSocket;  // gateway/websocket.h

// The HTTP side of one exchange. Every call returns false once the client is gone (the handler then stops,
// which closes its jaild connection and so cancels the job).
class Responder {
public:
    virtual ~Responder() = default;
    virtual boost::asio::awaitable<bool> send(Response response) = 0;
    // A chunked 200 answer whose chunks are written (and flushed) one by one.
    virtual boost::asio::awaitable<bool> begin_chunked(std::string content_type) = 0;
    virtual boost::asio::awaitable<bool> chunk(std::string data) = 0;
    virtual boost::asio::awaitable<bool> end_chunked() = 0;
    // A 200 answer of exactly `length` bytes, written piece by piece with write_body(). Cut short (the handler
    // returns before the last byte), it ends with the connection, so the client can tell it is incomplete.
    virtual boost::asio::awaitable<bool> begin_body(std::string content_type, std::uint64_t length) = 0;
    virtual boost::asio::awaitable<bool> write_body(std::string data) = 0;
    // Routes with Route::websocket: answers `request`, a WebSocket handshake, with 101 and, when not empty,
    // Sec-WebSocket-Protocol: `subprotocol`. The connection is then that WebSocket until the handler returns,
    // and closes with it. Null when the handshake failed (the status sent says why).
    // GCC 12 coroutines (docs/development.md): text as a view, copied inside.
    virtual boost::asio::awaitable<std::unique_ptr<WebSocket>> accept_websocket(const Request& request,
                                                                                std::string_view subprotocol) = 0;
};

// A request body that its handler reads piece by piece (routes with streams_body: file uploads), so that the
// gateway never holds more than a piece of it.
class BodyReader {
public:
    virtual ~BodyReader() = default;
    // The next piece into `piece` (possibly empty), and `done` once the body is complete. An error when the
    // client left or sent a malformed body, or boost::asio::error::timed_out when it sent nothing for the
    // body timeout.
    virtual boost::asio::awaitable<boost::system::error_code> read(std::string& piece, bool& done) = 0;
    // Its Content-Length; none for a chunked body.
    virtual std::optional<std::uint64_t> length() const = 0;
};

struct Exchange {
    const Request& request;
    const std::string& request_id;
    const GatewayOptions& options;
    const Caller& caller;
    Responder& responder;
    std::vector<std::string> params;  // the route's {parameters}, in order, as sent
    BodyReader* body = nullptr;       // streams_body routes: the body, still to be read (request's is empty)
    std::string_view route = {};      // the matched route's pattern (metrics and the access log)
    std::string verdict = {};         // a run's outcome, set by the run routes for the access log
    std::optional<Reason> rejected;   // set by a handler that refuses the request for a quota or the rate
};

using Handler = boost::asio::awaitable<void> (*)(Exchange&);

struct Route {
    http::verb method;
    std::string_view path;
    Handler handler;
    bool streams_body = false;  // the handler reads the body itself (Exchange::body), of any size
    bool websocket = false;     // the handler may upgrade the connection (Responder::accept_websocket)
};

// What the table says about a request: its handler, or the status (404/405) and the Allow header.
struct RouteMatch {
    Handler handler = nullptr;
    unsigned status = 200;
    std::string allow;
    std::vector<std::string> params;
    bool streams_body = false;
    bool websocket = false;
    std::string_view pattern;  // the route's path pattern (also for a 405); empty for a 404
};
// `metrics_only`: the table of a metrics_listen address, where GET /metrics is the only route.
RouteMatch match_route(http::verb method, std::string_view target, bool metrics_only = false);

// 415 unless the body is application/json (parameters such as charset allowed); answers itself.
boost::asio::awaitable<bool> require_json(Exchange& exchange);

// A JSON answer with the gateway's usual headers.
Response json_response(unsigned status, std::string body, bool retry_after = false);

}  // namespace jaild::gateway
