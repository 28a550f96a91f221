// An HTTP request head as a client sends it: parsed by Beast's request parser under the gateway's header limit,
// then what the gateway takes from it before any handler runs: the URL path's parameters, X-Request-Id and the
// CORS headers for Origin.
//
// Input: the bytes of a request (request line, header lines, possibly a body).
//
// Invariants:
// - every segment of the URL path, and every rest of the path (a {path...} parameter), is either refused by
//   decode_url_param naming its field, or decodes to UTF-8 without NUL that survives framing in the messages
//   that carry URL names (a session's file, a run in a session);
// - an X-Request-Id the gateway keeps (valid_request_id) is printable ASCII and survives framing as the
//   request id;
// - CORS: Access-Control-Allow-Origin is sent exactly when the Origin is listed (or "*" is), its value is
//   that origin or "*", Vary: Origin whenever origins are configured, nothing when none are; every header
//   value the gateway would set holds no CR, LF or NUL; an answer to OPTIONS lists the methods it was given;
// - normalize_origin on the Origin either refuses it (ConfigError) or gives an origin it maps to itself.
#include <google/protobuf/stubs/logging.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "gateway/cors.h"
#include "gateway/limits.h"
#include "gateway/request_parsing.h"
#include "gateway/session_codec.h"
#include "jaild.pb.h"

using namespace jaild;
namespace http = boost::beast::http;

namespace {

bool header_safe(std::string_view value) { return value.find_first_of(std::string_view("\r\n\0", 3)) == value.npos; }

std::string value_of(const gateway::HeaderList& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        FUZZ_CHECK(header_safe(key) && header_safe(value));
        if (key == name) return value;
    }
    return "<none>";
}

void check_url_name(std::string_view text) {
    const auto decoded = gateway::decode_url_param(text, "session_id", "the session id");
    if (const auto* error = std::get_if<gateway::FieldError>(&decoded)) {
        FUZZ_CHECK(error->field == "session_id" && !error->message.empty());
        return;
    }
    const std::string& name = std::get<std::string>(decoded);
    FUZZ_CHECK(fuzz::valid_utf8(name) && name.find('\0') == std::string::npos);
    v1::ClientMessage message;
    message.mutable_file_get()->set_session_id(name);
    message.mutable_file_get()->set_path(name);
    fuzz::check_frame_round_trip(message);
    message.mutable_execute()->set_session_id(name);
    fuzz::check_frame_round_trip(message);
}

// Each segment, and each rest of the path from a segment on, as the route table's parameters take them.
void check_path(std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    for (std::size_t at = path.find('/'); at != std::string_view::npos; at = path.find('/', at + 1)) {
        const std::string_view rest = path.substr(at + 1);
        check_url_name(rest.substr(0, rest.find('/')));
        check_url_name(rest);
    }
}

void check_request_id(std::string_view id) {
    if (!gateway::valid_request_id(id)) return;
    for (unsigned char c : id) FUZZ_CHECK(c > 0x20 && c < 0x7f);
    v1::ClientMessage message;
    message.set_request_id(std::string(id));
    message.mutable_languages();
    fuzz::check_frame_round_trip(message);
}

void check_cors(std::string_view origin) {
    static const std::vector<std::string> listed = {"http://ide.example.com:5173", "https://ide.example.com"};
    const gateway::HeaderList none = gateway::cors_headers({}, origin);
    FUZZ_CHECK(none.empty());
    const gateway::HeaderList some = gateway::cors_headers(listed, origin);
    FUZZ_CHECK(value_of(some, "Vary") == "Origin");
    const bool is_listed = !origin.empty() && (origin == listed[0] || origin == listed[1]);
    FUZZ_CHECK(gateway::cors_allowed(some) == is_listed);
    FUZZ_CHECK(value_of(some, "Access-Control-Allow-Origin") == (is_listed ? std::string(origin) : "<none>"));
    const gateway::HeaderList any = gateway::cors_headers({"*"}, origin);
    FUZZ_CHECK(value_of(any, "Access-Control-Allow-Origin") == (origin.empty() ? "<none>" : "*"));
    const gateway::HeaderList options = gateway::options_headers("GET, DELETE", gateway::cors_allowed(some));
    FUZZ_CHECK(value_of(options, "Allow") == "GET, DELETE");
    FUZZ_CHECK(value_of(options, "Access-Control-Allow-Methods") == (is_listed ? "GET, DELETE" : "<none>"));

    std::string normal;
    try {
        normal = gateway::normalize_origin(origin);
    } catch (const ConfigError& error) {
        FUZZ_CHECK(std::string_view(error.what()).starts_with("gateway.cors_origins: \""));
        return;
    }
    FUZZ_CHECK(gateway::normalize_origin(normal) == normal);
    FUZZ_CHECK(normal == "*" || (normal.find("://") != std::string::npos && header_safe(normal) &&
                                 normal.find_first_of("/?#@ ", normal.find("://") + 3) == std::string::npos));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
    (void)quiet;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(gateway::GatewayLimits{}.header_bytes));
    parser.eager(false);
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(data, size), ec);
    if (!parser.is_header_done()) return 0;
    const auto& request = parser.get();
    check_path(request.target());
    check_request_id(request["X-Request-Id"]);
    check_cors(request[http::field::origin]);
    return 0;
}
