#include "gateway/routes.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include "gateway/json_codec.h"
#include "gateway/streaming.h"

namespace jaild::gateway {

namespace asio = boost::asio;

namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
    return true;
}

// application/json, optionally with parameters (charset=utf-8).
bool is_json_content(const Request& request) {
    const std::string_view type = request[http::field::content_type];
    if (!iequals_prefix(type, "application/json")) return false;
    return type.size() == 16 || type[16] == ';' || type[16] == ' ';
}

bool accepts_ndjson(const Request& request) {
    const std::string_view accept = request[http::field::accept];
    return accept.find("application/x-ndjson") != std::string_view::npos;
}

// The checks every POST body goes through before its own parser: 415 for anything but JSON.
asio::awaitable<bool> require_json(Exchange& exchange) {
    if (is_json_content(exchange.request)) co_return true;
    co_await exchange.responder.send(
        json_response(415, error_body("Content-Type must be application/json", "Content-Type")));
    co_return false;
}

asio::awaitable<void> forward_parsed(Exchange& exchange, ParseResult parsed) {
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await exchange.responder.send(json_response(400, error_body(error->message, error->field)));
        co_return;
    }
    ParsedRequest& request = std::get<ParsedRequest>(parsed);
    request.message.set_request_id(exchange.request_id);
    const bool stream = request.stream || accepts_ndjson(exchange.request);
    co_await forward_run(exchange, std::move(request), stream);
}

asio::awaitable<void> handle_run(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    // A local, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
    ParseResult parsed = parse_run(exchange.request.body());
    co_await forward_parsed(exchange, std::move(parsed));
}

asio::awaitable<void> handle_execute(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    ParseResult parsed = parse_execute(exchange.request.body(), exchange.options.limits.script_bytes);
    co_await forward_parsed(exchange, std::move(parsed));
}

asio::awaitable<void> handle_languages(Exchange& exchange) { co_await forward_languages(exchange); }

asio::awaitable<void> handle_health(Exchange& exchange) { co_await probe_health(exchange); }

const Route kRoutes[] = {
    {http::verb::get, "/health", &handle_health},
    {http::verb::get, "/languages", &handle_languages},
    {http::verb::post, "/run", &handle_run},
    {http::verb::post, "/execute", &handle_execute},
};

}  // namespace

RouteMatch match_route(http::verb method, std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    RouteMatch match;
    match.status = 404;
    for (const Route& route : kRoutes) {
        if (route.path != path) continue;
        if (route.method == method) return RouteMatch{route.handler, 200, {}};
        match.status = 405;
        if (!match.allow.empty()) match.allow += ", ";
        match.allow += std::string(http::to_string(route.method));
    }
    return match;
}

Response json_response(unsigned status, std::string body, bool retry_after) {
    Response response{static_cast<http::status>(status), 11};
    response.set(http::field::content_type, "application/json");
    if (retry_after) response.set(http::field::retry_after, "1");
    response.body() = std::move(body);
    response.body() += '\n';
    return response;
}

}  // namespace jaild::gateway
