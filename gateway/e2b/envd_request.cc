#include "gateway/e2b/envd_request.h"

#include <charconv>

namespace jaild::gateway::e2b {

namespace {

struct CodeMapping {
    v1::ErrorCode jaild;
    ConnectCode connect;
};
constexpr CodeMapping kCodes[] = {
    {v1::ERROR_CODE_INVALID_ARGUMENT, ConnectCode::invalid_argument},
    {v1::ERROR_CODE_PROTOCOL, ConnectCode::internal},
    {v1::ERROR_CODE_PERMISSION_DENIED, ConnectCode::permission_denied},
    {v1::ERROR_CODE_NOT_FOUND, ConnectCode::not_found},
    {v1::ERROR_CODE_RESOURCE_EXHAUSTED, ConnectCode::resource_exhausted},
    {v1::ERROR_CODE_UNIMPLEMENTED, ConnectCode::unimplemented},
    {v1::ERROR_CODE_INTERNAL, ConnectCode::internal},
    {v1::ERROR_CODE_UNAVAILABLE, ConnectCode::unavailable},
    {v1::ERROR_CODE_QUOTA_EXCEEDED, ConnectCode::resource_exhausted},
    {v1::ERROR_CODE_FAILED_PRECONDITION, ConnectCode::failed_precondition},
    {v1::ERROR_CODE_ALREADY_EXISTS, ConnectCode::already_exists},
};

bool printable_id(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (const char c : id)
        if (c <= ' ' || c > '~') return false;
    return true;
}

}  // namespace

std::optional<std::variant<SandboxRequest, E2bError>> sandbox_request(
    const boost::beast::http::request<boost::beast::http::string_body>& request) {
    const auto id = request.find("E2b-Sandbox-Id");
    if (id == request.end()) return std::nullopt;
    if (!printable_id(id->value())) return E2bError{400, "E2b-Sandbox-Id must be a sandbox id"};
    const std::string_view port_text = request["E2b-Sandbox-Port"];
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size())
        return E2bError{400,
                        "E2b-Sandbox-Port must name the sandbox's port (49983: envd, 49999: the code interpreter)"};
    SandboxRequest out{std::string(id->value()), SandboxService::envd};
    if (port == kInterpreterPort)
        out.service = SandboxService::interpreter;
    else if (port != kEnvdPort)
        return E2bError{501, "port " + std::to_string(port) +
                                 " of a sandbox is not reachable through jaild: only envd (49983) and the code "
                                 "interpreter (49999) are"};
    return out;
}

bool streams_body(const boost::beast::http::request<boost::beast::http::string_body>& request) {
    if (request.method() != boost::beast::http::verb::post) return false;
    const auto target = sandbox_request(request);  // the port as the routing reads it
    const SandboxRequest* sandbox = target ? std::get_if<SandboxRequest>(&*target) : nullptr;
    const std::string_view path = request.target().substr(0, request.target().find('?'));
    return sandbox && sandbox->service == SandboxService::envd && path == "/files";
}

std::chrono::seconds keepalive_interval(std::string_view header, std::chrono::seconds most) {
    unsigned seconds = 0;
    const auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
    if (header.empty() || ec != std::errc{} || end != header.data() + header.size() || seconds == 0 ||
        seconds > most.count())
        return most;
    return std::chrono::seconds(seconds);
}

ConnectError connect_error(const v1::Error& error) {
    for (const CodeMapping& row : kCodes)
        if (row.jaild == error.code()) return ConnectError{row.connect, error.message()};
    return ConnectError{ConnectCode::unknown, error.message()};
}

}  // namespace jaild::gateway::e2b
