// Which E2B sandbox service a request is for. The SDK sends every envd and code-interpreter request to the one
// E2B_SANDBOX_URL (the gateway) and names the sandbox and port in headers: E2b-Sandbox-Id, and
// E2b-Sandbox-Port 49983 (envd) or 49999 (the code interpreter). Such requests are dispatched before the route
// table (GET /health and POST /execute exist on both sides) and carry no API key, only the sandbox's access
// token. Also how jaild's errors read as Connect errors. Pure; unit-tested in tests/unit/test_e2b_process.cc.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/e2b/connect_codes.h"
#include "gateway/e2b/control_codec.h"
#include "jaild.pb.h"

namespace jaild::gateway::e2b {

inline constexpr unsigned kEnvdPort = 49983;
inline constexpr unsigned kInterpreterPort = 49999;

enum class SandboxService { envd, interpreter };

struct SandboxRequest {
    std::string sandbox_id;
    SandboxService service = SandboxService::envd;
};

// nullopt when the request names no sandbox (E2b-Sandbox-Id absent): an ordinary request. A sandbox id that is
// empty or not printable ASCII, a missing port or another port (a server of the sandbox's own, which a
// container without per-port routing cannot reach) is an error answer (400, or 501 for another port).
std::optional<std::variant<SandboxRequest, E2bError>> sandbox_request(
    const boost::beast::http::request<boost::beast::http::string_body>& request);

// Whether the handler reads the request's body itself as it arrives (POST /files of envd: an upload of any size
// within the session's quota); the others are read whole, within the gateway's body limit.
bool streams_body(const boost::beast::http::request<boost::beast::http::string_body>& request);

// How often a long stream sends a keepalive: the client's Keepalive-Ping-Interval header (whole seconds), at
// most `most`, which is also what an absent or unreadable header gets.
std::chrono::seconds keepalive_interval(std::string_view header, std::chrono::seconds most);

// A jaild Error as envd's Connect error: not found stays not_found (the SDK's exists() and kill() rely on it),
// a process that ended or a session not live is failed_precondition, a full quota resource_exhausted.
ConnectError connect_error(const v1::Error& error);

}  // namespace jaild::gateway::e2b
