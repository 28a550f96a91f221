#include "gateway/cors.h"

#include <algorithm>

#include "common/config.h"

namespace jaild::gateway {

namespace {

// What a page may read of an answer besides the safelisted headers: the request id to quote in a bug report,
// when to come back after a 429 or 503 (Retry-After), the caller's rate limit (the RateLimit fields), and why a
// key was refused (WWW-Authenticate).
constexpr std::string_view kExposed =
    "X-Request-Id, X-Jaild-Node, Retry-After, RateLimit-Policy, RateLimit, WWW-Authenticate";
// What clients send besides the safelisted headers: a JSON body, an API key in either form, a request id.
constexpr std::string_view kRequestHeaders = "Content-Type, Authorization, X-API-Key, X-Request-Id";
// How long a browser may reuse a preflight's answer (Chromium caps it at two hours).
constexpr std::string_view kMaxAgeSeconds = "600";

bool is_scheme(std::string_view scheme) {
    if (scheme.empty() || scheme.front() < 'a' || scheme.front() > 'z') return false;
    return std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    });
}

bool is_port(std::string_view port) {
    if (port.empty() || port.size() > 5 || port.front() == '0') return false;
    if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    return std::stoul(std::string(port)) <= 65535;
}

}  // namespace

std::string normalize_origin(std::string_view entry) {
    if (entry == "*") return "*";
    std::string origin(entry);
    std::transform(origin.begin(), origin.end(), origin.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
    const auto fail = [&](std::string_view why) {
        throw ConfigError("gateway.cors_origins: \"" + std::string(entry) + "\" " + std::string(why));
    };
    const std::size_t separator = origin.find("://");
    if (separator == std::string::npos || !is_scheme(std::string_view(origin).substr(0, separator)))
        fail("is not an origin: write \"*\" or scheme://host[:port], e.g. \"https://ide.example.com\"");
    const std::string scheme = origin.substr(0, separator);
    const std::string_view authority = std::string_view(origin).substr(separator + 3);
    if (authority.empty() || authority.front() == ':') fail("has no host");
    if (authority.find_first_of("/?#") != std::string_view::npos)
        fail("has a path: an origin is scheme://host[:port], without even a trailing slash");
    if (authority.find('@') != std::string_view::npos) fail("has user info, which no Origin header carries");
    if (std::any_of(authority.begin(), authority.end(), [](char c) { return c <= 0x20 || c >= 0x7f; }))
        fail("holds a space or a non-ASCII character (write an international host name in its xn-- form)");
    // The host: a bracketed IPv6 literal, or a name without colons or brackets. Then nothing, or :port.
    const bool literal = authority.front() == '[';
    const std::size_t host_end = literal ? authority.find(']') + 1 : std::min(authority.find(':'), authority.size());
    const std::string_view host = authority.substr(0, host_end);
    const std::size_t bracket = host.find_first_of("[]", literal ? 1 : 0);
    if (host_end == 0 || (literal ? bracket != host.size() - 1 : bracket != std::string_view::npos))
        fail("has a host that is neither a name nor a bracketed IPv6 address");
    const std::string_view rest = authority.substr(host_end);
    if (!rest.empty()) {
        if (rest.front() != ':' || !is_port(rest.substr(1))) fail("has a port that is not 1..65535");
        // Browsers leave the scheme's default port out of Origin.
        if ((scheme == "https" && rest == ":443") || (scheme == "http" && rest == ":80"))
            origin.erase(separator + 3 + host_end);
    }
    return origin;
}

HeaderList cors_headers(const std::vector<std::string>& allowed, std::string_view origin) {
    HeaderList out;
    if (allowed.empty()) return out;
    // The answer depends on Origin (whether it carries the headers below): caches must keep them apart.
    out.emplace_back("Vary", "Origin");
    if (origin.empty()) return out;
    const bool any = std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
    if (!any && std::find(allowed.begin(), allowed.end(), origin) == allowed.end()) return out;
    out.emplace_back("Access-Control-Allow-Origin", any ? std::string("*") : std::string(origin));
    out.emplace_back("Access-Control-Expose-Headers", kExposed);
    return out;
}

bool cors_allowed(const HeaderList& headers) {
    return std::any_of(headers.begin(), headers.end(),
                       [](const auto& header) { return header.first == "Access-Control-Allow-Origin"; });
}

HeaderList options_headers(std::string_view allow_methods, bool allowed_preflight) {
    HeaderList out{{"Allow", std::string(allow_methods)}};
    if (!allowed_preflight) return out;
    out.emplace_back("Access-Control-Allow-Methods", allow_methods);
    out.emplace_back("Access-Control-Allow-Headers", kRequestHeaders);
    out.emplace_back("Access-Control-Max-Age", kMaxAgeSeconds);
    return out;
}

}  // namespace jaild::gateway
