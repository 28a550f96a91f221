#include "gateway/e2b/sandbox_admission.h"

#include <boost/json/parse.hpp>

#include "gateway/e2b/control_codec.h"
#include "gateway/e2b/envd_request.h"

namespace jaild::gateway::e2b {

namespace json = boost::json;

std::optional<Response> admit_sandbox_request(const Request& request, const boost::asio::ip::address& peer,
                                              Authenticator& authenticator, const SandboxTokens* tokens,
                                              Caller& caller) {
    const auto target = sandbox_request(request);
    const SandboxRequest* sandbox = target ? std::get_if<SandboxRequest>(&*target) : nullptr;
    const std::string_view path = request.target().substr(0, request.target().find('?'));
    // envd's /health without a token answers 204 for any id (nothing to learn from it); with one it says
    // whether that sandbox still runs, so the token is checked.
    const bool health = request.method() == http::verb::get && path == "/health" && request["X-Access-Token"].empty();
    if (!sandbox || health) {
        if (auto refused = authenticator.identify(request, peer, caller)) return refused;
        return std::nullopt;
    }
    const bool interpreter = sandbox->service == SandboxService::interpreter;
    const std::string_view token = request[interpreter ? "E2B-Traffic-Access-Token" : "X-Access-Token"];
    const std::optional<std::string> principal =
        !tokens ? std::nullopt
                : tokens->verify(interpreter ? TokenKind::traffic : TokenKind::envd, token, sandbox->sandbox_id);
    const auto refusal = authenticator.admit_token(request, peer, caller, principal);
    if (!refusal) return std::nullopt;
    Response response = json_response(refusal->status, error_body(E2bError{refusal->status, refusal->message}));
    if (refusal->retry_after_s) response.set(http::field::retry_after, std::to_string(refusal->retry_after_s));
    return response;
}

bool control_plane_path(std::string_view target) {
    return target.starts_with("/v2/sandboxes") || target.starts_with("/sandboxes");
}

std::string refusal_message(const Response& response) {
    boost::system::error_code ec;
    const json::value body = json::parse(response.body(), ec);
    const json::value* error = !ec && body.is_object() ? body.as_object().if_contains("error") : nullptr;
    return error && error->is_string() ? std::string(error->get_string()) : std::string(response.reason());
}

void reshape_refusal(Response& response) {
    const unsigned status = response.result_int();
    response.body() = error_body(E2bError{status, refusal_message(response)});
    response.prepare_payload();
}

}  // namespace jaild::gateway::e2b
