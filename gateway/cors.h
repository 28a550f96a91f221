// Cross-origin access for browsers (docs/api.md, "Browsers"): which answers carry CORS headers and what a
// preflight is told. Pure functions of a request's headers and [gateway] cors_origins.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jaild::gateway {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One entry of cors_origins as a browser spells it in Origin: "*", or scheme://host[:port] lowercased and
// without a default port. Throws ConfigError naming the entry when it has a path, a query, user info or
// no scheme (such an entry would never match).
std::string normalize_origin(std::string_view entry);

// The headers every answer to a request carrying `origin` gets: none when `allowed` is empty; Vary: Origin
// otherwise; Access-Control-Allow-Origin and -Expose-Headers only when the origin is listed (or "*" is).
HeaderList cors_headers(const std::vector<std::string>& allowed, std::string_view origin);

// Whether cors_headers allows the origin (an Access-Control-Allow-Origin is among them).
bool cors_allowed(const HeaderList& headers);

// The answer to OPTIONS on a known path: Allow, and for an allowed preflight the methods of that path, the
// request headers clients send and how long a browser may cache the answer.
HeaderList options_headers(std::string_view allow_methods, bool allowed_preflight);

}  // namespace jaild::gateway
