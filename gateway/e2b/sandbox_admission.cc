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
    const bool health = request.method() == http::verb::get && path == "/health";
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

void reshape_refusal(Response& response) {
    boost::system::error_code ec;
    const json::value body = json::parse(response.body(), ec);
    const json::string* message = ec || !body.is_object()                 ? nullptr
                                  : body.as_object().if_contains("error") ? body.as_object().at("error").if_string()
                                                                          : nullptr;
    const unsigned status = response.result_int();
    response.body() = error_body(E2bError{status, message ? std::string(*message) : std::string(response.reason())});
    response.prepare_payload();
}

}  // namespace jaild::gateway::e2b
