// The playground's static files (docs/playground.md): GET and HEAD of the files under [gateway] www_dir at `/`,
// and of the Debian packages' JavaScript libraries under their /vendor/ prefixes. Read-only, no listing, no
// way out of a directory: a path is checked as text first (static_path), then opened with openat2
// RESOLVE_BENEATH below the directory's descriptor, so a symlink may point within the directory (Debian's
// codemirror.js -> lib/codemirror.js) but never out of it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/routes.h"

namespace jaild::gateway {

// Where a request path's file is: the mount that serves it and the path below the mount's directory.
struct StaticPath {
    const StaticMount* mount = nullptr;
    std::string relative;  // never empty, no "." or ".." segment, no NUL, no leading '/'
};

// The mounts of these options, most specific prefix first: the vendor mounts, then www_dir at "/". Empty
// directories are left out.
std::vector<StaticMount> static_mounts(const GatewayOptions& options);

// Pure: the file a request target names among `mounts`, or none (a 404). The query is ignored; the path is
// percent-decoded once; an encoded slash, a NUL, a backslash, a "." or ".." segment or a dot file are refused.
// A path ending in '/' names its index.html.
std::optional<StaticPath> static_path(std::string_view target, const std::vector<StaticMount>& mounts);

// The Content-Type of a file name by its extension (application/octet-stream for an unknown one).
std::string_view static_content_type(std::string_view name);

// Whether the request is a GET or HEAD that the static files answer with a file (one that exists).
bool is_static_file(http::verb method, std::string_view target, const GatewayOptions& options);

// The route table's fallback for a path no API route has: the file for GET and HEAD, 405 for another method
// on a file that exists, 404 otherwise.
boost::asio::awaitable<void> handle_static(Exchange& exchange);

}  // namespace jaild::gateway
