// Who an E2B request acts for, decided where every request's caller is (HttpConnection::check_caller), from its
// header alone. A request naming a sandbox (E2b-Sandbox-Id) carries no API key but the sandbox's access token:
// X-Access-Token for envd (port 49983), E2B-Traffic-Access-Token for the code interpreter (49999). The token
// names the principal it was minted for; the Authenticator admits that principal as it would its key (its
// tenant's limits apply; a tenant whose keys are all revoked loses its tokens), and counts a wrong token
// toward the client's failures as it counts a wrong key. Refusals are in E2B's shape, {"code", "message"}.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string_view>

#include "gateway/authenticator.h"
#include "gateway/e2b/sandbox_tokens.h"
#include "gateway/routes.h"

namespace jaild::gateway::e2b {

// nullopt: let the request through with `caller` filled (for a malformed sandbox request or envd's
// `GET /health` without a token, the client's address only: the handler answers). Else the refusal:
// 401 (no token, a wrong one, one for another sandbox or kind, a tenant without keys; every token without
// `tokens`), 429 (throttled), 400.
std::optional<Response> admit_sandbox_request(const Request& request, const boost::asio::ip::address& peer,
                                              Authenticator& authenticator, const SandboxTokens* tokens,
                                              Caller& caller);

// The control plane's paths (/v2/sandboxes..., /sandboxes...): the gateway's own refusal of such a call (a
// missing or wrong API key: {"error", "field"}) is rewritten to E2B's {"code", "message"}, which the SDK shows.
bool control_plane_path(std::string_view target);
void reshape_refusal(Response& response);
// The sentence of one of the gateway's own refusals ({"error": ...}; its reason phrase when it has none), for
// answers in another protocol's shape (a quota's 429 as Connect's resource_exhausted).
std::string refusal_message(const Response& response);
// The sentence of one of the gateway's own refusals ({"error": ...}; its reason phrase when it has none), for
// answers in another protocol's shape (a quota's 429 as Connect's resource_exhausted).
std::string refusal_message(const Response& response);

}  // namespace jaild::gateway::e2b
