#include "gateway/routes.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <span>

#include "gateway/context_routes.h"
#include "gateway/e2b/control_routes.h"
#include "gateway/jaild_forwarding.h"
#include "gateway/limits_route.h"
#include "gateway/metrics_route.h"
#include "gateway/process_routes.h"
#include "gateway/quota_admission.h"
#include "gateway/request_parsing.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"
#include "gateway/session_routes.h"
#include "gateway/static_files.h"
#include "gateway/websocket_attach.h"

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

asio::awaitable<void> forward_parsed(Exchange& exchange, ParseResult parsed) {
    if (auto* error = std::get_if<FieldError>(&parsed)) {
        co_await exchange.responder.send(json_response(400, error_body(error->message, error->field)));
        co_return;
    }
    ParsedRequest& request = std::get<ParsedRequest>(parsed);
    // The caller's run slot and token, held until the run is over (however the handler ends).
    std::variant<RunSlot, Response> admitted = admit_run(exchange, request);
    if (auto* refused = std::get_if<Response>(&admitted)) {
        co_await exchange.responder.send(std::move(*refused));
        co_return;
    }
    request.message.set_request_id(exchange.request_id);
    const bool stream = request.stream || accepts_ndjson(exchange.request);
    if (!request.user_id.empty()) {
        co_await forward_user_run(exchange, std::move(request), stream);
        co_return;
    }
    co_await forward_run(exchange, std::move(request), stream);
}

// /sessions/{id}/run and /execute: the same request, run in the session the URL names.
void place_in_session(ParseResult& parsed, const Exchange& exchange) {
    auto* request = std::get_if<ParsedRequest>(&parsed);
    if (!request) return;
    auto id = decode_url_param(exchange.params.at(0), "session_id", "the session id");
    if (auto* error = std::get_if<FieldError>(&id)) {
        parsed = std::move(*error);
    } else if (!request->user_id.empty()) {
        parsed = FieldError{"user_id", "user_id chooses a session on POST /run; this URL already names one"};
    } else if (request->kind == RequestKind::execute) {
        request->message.mutable_execute()->set_session_id(std::get<std::string>(id));
    } else {
        request->message.mutable_run()->set_session_id(std::get<std::string>(id));
    }
}

asio::awaitable<void> handle_run(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    // GCC 12 coroutines (docs/development.md): named, not a temporary in the co_await
    ParseResult parsed = parse_run(exchange.request.body());
    co_await forward_parsed(exchange, std::move(parsed));
}

asio::awaitable<void> handle_execute(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    ParseResult parsed = parse_execute(exchange.request.body(), exchange.options.limits.script_chars);
    co_await forward_parsed(exchange, std::move(parsed));
}

asio::awaitable<void> handle_session_run(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    ParseResult parsed = parse_run(exchange.request.body());
    place_in_session(parsed, exchange);
    co_await forward_parsed(exchange, std::move(parsed));
}

asio::awaitable<void> handle_session_execute(Exchange& exchange) {
    if (!co_await require_json(exchange)) co_return;
    ParseResult parsed = parse_execute(exchange.request.body(), exchange.options.limits.script_chars);
    place_in_session(parsed, exchange);
    co_await forward_parsed(exchange, std::move(parsed));
}

asio::awaitable<void> handle_languages(Exchange& exchange) { co_await forward_languages(exchange); }

asio::awaitable<void> handle_health(Exchange& exchange) { co_await probe_health(exchange); }

const Route kRoutes[] = {
    {http::verb::get, "/health", &handle_health},
    {http::verb::get, "/languages", &handle_languages},
    {http::verb::get, "/limits", &handle_limits},
    {http::verb::get, "/metrics", &handle_metrics},
    {http::verb::post, "/run", &handle_run},
    {http::verb::post, "/execute", &handle_execute},
    {http::verb::post, "/sessions", &handle_session_create},
    {http::verb::get, "/sessions", &handle_session_list},
    {http::verb::get, "/sessions/{id}", &handle_session_get},
    {http::verb::delete_, "/sessions/{id}", &handle_session_delete},
    {http::verb::post, "/sessions/{id}/run", &handle_session_run},
    {http::verb::post, "/sessions/{id}/execute", &handle_session_execute},
    {http::verb::post, "/sessions/{id}/env", &handle_session_env},
    {http::verb::post, "/sessions/{id}/cwd", &handle_session_cwd},
    {http::verb::get, "/sessions/{id}/files", &handle_file_list},
    {http::verb::get, "/sessions/{id}/files/{path...}", &handle_file_get},
    {http::verb::put, "/sessions/{id}/files/{path...}", &handle_file_put, true},
    {http::verb::delete_, "/sessions/{id}/files/{path...}", &handle_file_delete},
    {http::verb::post, "/sessions/{id}/timeout", &handle_session_timeout},
    {http::verb::post, "/sessions/{id}/processes", &handle_process_start},
    {http::verb::get, "/sessions/{id}/processes", &handle_process_list},
    {http::verb::get, "/sessions/{id}/processes/{pid}", &handle_process_get},
    {http::verb::get, "/sessions/{id}/processes/{pid}/output", &handle_process_output},
    {http::verb::get, "/sessions/{id}/processes/{pid}/wait", &handle_process_wait},
    {http::verb::post, "/sessions/{id}/processes/{pid}/stdin", &handle_process_stdin},
    {http::verb::post, "/sessions/{id}/processes/{pid}/signal", &handle_process_signal},
    {http::verb::post, "/sessions/{id}/processes/{pid}/resize", &handle_process_resize},
    {http::verb::get, "/sessions/{id}/processes/{pid}/attach", &handle_process_attach, false, true},
    {http::verb::post, "/sessions/{id}/contexts", &handle_context_create},
    {http::verb::get, "/sessions/{id}/contexts", &handle_context_list},
    {http::verb::delete_, "/sessions/{id}/contexts/{ctx}", &handle_context_delete},
    {http::verb::post, "/sessions/{id}/contexts/{ctx}/interrupt", &handle_context_interrupt},
    {http::verb::post, "/sessions/{id}/contexts/{ctx}/restart", &handle_context_restart},
    {http::verb::post, "/sessions/{id}/contexts/{ctx}/run", &handle_context_run},
    // E2B's control plane (docs/e2b.md)
    {http::verb::post, "/v2/sandboxes", &e2b::handle_sandbox_create},
    {http::verb::get, "/v2/sandboxes", &e2b::handle_sandbox_list},
    {http::verb::post, "/v2/sandboxes/{id}/connect", &e2b::handle_sandbox_connect},
    {http::verb::get, "/sandboxes/{id}", &e2b::handle_sandbox_get},
    {http::verb::delete_, "/sandboxes/{id}", &e2b::handle_sandbox_kill},
    {http::verb::post, "/sandboxes/{id}/timeout", &e2b::handle_sandbox_timeout},
    {http::verb::post, "/sandboxes/{id}/pause", &e2b::handle_sandbox_unsupported},
    {http::verb::post, "/sandboxes/{id}/resume", &e2b::handle_sandbox_unsupported},
    {http::verb::post, "/sandboxes/{id}/snapshots", &e2b::handle_sandbox_unsupported},
    {http::verb::get, "/snapshots", &e2b::handle_sandbox_unsupported},
    {http::verb::post, "/sandboxes/{id}/fork", &e2b::handle_sandbox_unsupported},
    {http::verb::put, "/sandboxes/{id}/network", &e2b::handle_sandbox_unsupported},
    {http::verb::get, "/sandboxes/{id}/metrics", &e2b::handle_sandbox_unsupported},
    {http::verb::get, "/sandboxes/{id}/logs", &e2b::handle_sandbox_unsupported},
    {http::verb::get, "/v2/sandboxes/{id}/logs", &e2b::handle_sandbox_unsupported},
    {http::verb::get, "/templates", &e2b::handle_sandbox_unsupported},
    {http::verb::post, "/v3/templates", &e2b::handle_sandbox_unsupported},
    {http::verb::delete_, "/templates/{id}", &e2b::handle_sandbox_unsupported},
    {http::verb::get, "/volumes", &e2b::handle_sandbox_unsupported},
    {http::verb::post, "/volumes", &e2b::handle_sandbox_unsupported},
};

// A GET or HEAD of a path no API route has: the playground's files (gateway/static_files.h).
constexpr std::string_view kStaticPattern = "/{file...}";

const Route kMetricsRoutes[] = {
    {http::verb::get, "/metrics", &handle_metrics},
};

// Whether `path` fits `pattern`; the values of the pattern's parameters go to `params`, as sent. A path is
// split on '/' as it arrived: an encoded slash (%2F) does not split it, and nothing is normalised.
bool match_pattern(std::string_view pattern, std::string_view path, std::vector<std::string>& params) {
    params.clear();
    while (!pattern.empty()) {
        if (path.empty() || path.front() != '/') return false;
        pattern.remove_prefix(1);
        path.remove_prefix(1);
        const std::string_view segment = pattern.substr(0, pattern.find('/'));
        pattern.remove_prefix(segment.size());
        if (segment.ends_with("...}")) {  // the rest of the path, slashes and all
            params.emplace_back(path);
            return true;
        }
        const std::string_view value = path.substr(0, path.find('/'));
        path.remove_prefix(value.size());
        if (segment.starts_with('{')) {
            if (value.empty()) return false;
            params.emplace_back(value);
        } else if (segment != value) {
            return false;
        }
    }
    return path.empty();
}

}  // namespace

asio::awaitable<bool> require_json(Exchange& exchange) {
    if (is_json_content(exchange.request)) co_return true;
    co_await exchange.responder.send(
        json_response(415, error_body("Content-Type must be application/json", "Content-Type")));
    co_return false;
}

bool is_static_route(http::verb method, std::string_view target) {
    return match_route(method, target).handler == &handle_static;
}

RouteMatch match_route(http::verb method, std::string_view target, bool metrics_only) {
    const std::string_view path = target.substr(0, target.find('?'));
    RouteMatch match;
    match.status = 404;
    std::vector<std::string> params;
    for (const Route& route : metrics_only ? std::span<const Route>(kMetricsRoutes) : std::span<const Route>(kRoutes)) {
        if (!match_pattern(route.path, path, params)) continue;
        if (route.method == method)
            return RouteMatch{route.handler,   200,       {}, std::move(params), route.streams_body,
                              route.websocket, route.path};
        match.status = 405;
        match.pattern = route.path;
        if (!match.allow.empty()) match.allow += ", ";
        match.allow += std::string(http::to_string(route.method));
    }
    if (match.status == 404 && !metrics_only && (method == http::verb::get || method == http::verb::head))
        return RouteMatch{&handle_static, 200, {}, {}, false, false, kStaticPattern};
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
