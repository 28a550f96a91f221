// The HTTP routes: a table of {method, path pattern, handler}. 404 and 405 (with Allow) come from the table, so
// a new endpoint is one row. A pattern's "{id}" matches one path segment and a last "{path...}" the rest of the
// path, slashes included; the handler gets them as they were sent (still percent-encoded). Handlers answer
// through a Responder, which the HTTP session implements.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/options.h"

namespace jaild::gateway {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

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
};

struct Exchange {
    const Request& request;
    const std::string& request_id;
    const GatewayOptions& options;
    Responder& responder;
    std::vector<std::string> params;  // the route's {parameters}, in order, as sent
};

using Handler = boost::asio::awaitable<void> (*)(Exchange&);

struct Route {
    http::verb method;
    std::string_view path;
    Handler handler;
};

// What the table says about a request: its handler, or the status (404/405) and the Allow header.
struct RouteMatch {
    Handler handler = nullptr;
    unsigned status = 200;
    std::string allow;
    std::vector<std::string> params;
};
RouteMatch match_route(http::verb method, std::string_view target);

// 415 unless the body is application/json (parameters such as charset allowed); answers itself.
boost::asio::awaitable<bool> require_json(Exchange& exchange);

// A JSON answer with the gateway's usual headers.
Response json_response(unsigned status, std::string body, bool retry_after = false);

}  // namespace jaild::gateway
