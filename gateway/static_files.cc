#include "gateway/static_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <cerrno>
#include <ctime>

#include "common/unique_fd.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"

namespace jaild::gateway {

namespace {

// The page loads only what the gateway serves: no CDN, no inline script, no plugin, no framing by another
// site. Styles may be inline because CodeMirror and term.js set element styles; images may be data: and
// blob: URLs (figures the page fetched with its key); the API and the attach WebSocket are the same origin.
constexpr std::string_view kPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

// Larger files are refused rather than held in memory (Debian's largest CodeMirror file is 0.4 MiB).
constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

struct ContentType {
    std::string_view extension;
    std::string_view type;
};
constexpr ContentType kContentTypes[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".woff2", "font/woff2"},
};

// Each segment of a decoded relative path: not empty (but the last, which becomes index.html), not "." or
// "..", no dot file, no backslash.
bool safe_segments(std::string_view path) {
    while (!path.empty()) {
        const std::string_view segment = path.substr(0, path.find('/'));
        path.remove_prefix(std::min(segment.size() + 1, path.size()));
        if (segment.empty() || segment.front() == '.') return false;
        if (segment.find('\\') != std::string_view::npos) return false;
    }
    return true;
}

std::string hex(std::uint64_t value) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    do {
        out.insert(out.begin(), kHex[value & 15]);
        value >>= 4;
    } while (value != 0);
    return out;
}

std::string http_date(std::time_t when) {
    std::tm tm{};
    gmtime_r(&when, &tm);
    char text[64];
    const std::size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(text, n);
}

// Whether If-None-Match lists `etag` (or is "*").
bool matches(std::string_view if_none_match, std::string_view etag) {
    while (!if_none_match.empty()) {
        std::string_view item = if_none_match.substr(0, if_none_match.find(','));
        if_none_match.remove_prefix(std::min(item.size() + 1, if_none_match.size()));
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.starts_with("W/")) item.remove_prefix(2);
        if (item == "*" || item == etag) return true;
    }
    return false;
}

// A regular file beneath `dir`: symlinks are followed only while they stay below it (RESOLVE_BENEATH answers
// EXDEV otherwise), /proc's magic links never.
unique_fd open_beneath(const std::string& dir, const std::string& relative) {
    const unique_fd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return unique_fd();
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return unique_fd(static_cast<int>(::syscall(SYS_openat2, root.get(), relative.c_str(), &how, sizeof how)));
}

struct StaticFile {
    std::string content;
    std::string etag;
    std::string last_modified;
};

// The file's content and validators; none for a missing file, a directory, a device or a file too large.
std::optional<StaticFile> read_file(const StaticPath& path) {
    const unique_fd fd = open_beneath(path.mount->dir, path.relative);
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    if (static_cast<std::uint64_t>(st.st_size) > kMaxFileBytes) return std::nullopt;
    StaticFile file;
    file.content.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < file.content.size()) {
        const ssize_t n = ::read(fd.get(), file.content.data() + done, file.content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;  // changed under us: better a 404 than half a file
        done += static_cast<std::size_t>(n);
    }
    const auto nanoseconds =
        static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
    file.etag = "\"" + hex(static_cast<std::uint64_t>(st.st_size)) + "-" + hex(nanoseconds) + "\"";
    file.last_modified = http_date(st.st_mtim.tv_sec);
    return file;
}

Response file_response(const Request& request, StaticFile& file, std::string_view name) {
    const bool unchanged = matches(request[http::field::if_none_match], file.etag);
    Response response{unchanged ? http::status::not_modified : http::status::ok, 11};
    response.set(http::field::etag, file.etag);
    response.set(http::field::last_modified, file.last_modified);
    // Revalidated at each load (an ETag makes that a 304), so an upgraded package is seen at once.
    response.set(http::field::cache_control, "no-cache");
    response.set(http::field::content_type, static_content_type(name));
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Content-Security-Policy", kPolicy);
    response.set("Referrer-Policy", "no-referrer");
    if (unchanged) return response;
    if (request.method() == http::verb::head) {
        response.content_length(file.content.size());  // the GET's length, without its body
        return response;
    }
    response.body() = std::move(file.content);
    return response;
}

}  // namespace

std::vector<StaticMount> static_mounts(const GatewayOptions& options) {
    std::vector<StaticMount> mounts;
    for (const StaticMount& vendor : options.www_vendor)
        if (!vendor.dir.empty()) mounts.push_back(vendor);
    std::sort(mounts.begin(), mounts.end(),
              [](const StaticMount& a, const StaticMount& b) { return a.prefix.size() > b.prefix.size(); });
    if (!options.www_dir.empty()) mounts.push_back({"/", options.www_dir});
    return mounts;
}

std::optional<StaticPath> static_path(std::string_view target, const std::vector<StaticMount>& mounts) {
    const std::string_view raw = target.substr(0, target.find('?'));
    if (!raw.starts_with('/')) return std::nullopt;
    // Decoded once, after checking what decoding would hide: an encoded slash or backslash, or a '%' that
    // decodes to another escape.
    std::optional<std::string> decoded = percent_decode(raw);
    if (!decoded || decoded->find('\0') != std::string::npos || decoded->find('%') != std::string::npos) return {};
    const std::string lowered = [&] {
        std::string text(raw);
        std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
        return text;
    }();
    if (lowered.find("%2f") != std::string::npos || lowered.find("%5c") != std::string::npos) return {};
    for (const StaticMount& mount : mounts) {
        if (!decoded->starts_with(mount.prefix)) continue;
        std::string relative = decoded->substr(mount.prefix.size());
        if (relative.empty() || relative.ends_with('/')) relative += "index.html";
        if (!safe_segments(relative)) return std::nullopt;
        return StaticPath{&mount, std::move(relative)};
    }
    return std::nullopt;
}

bool is_static_file(http::verb method, std::string_view target, const GatewayOptions& options) {
    if (!is_static_route(method, target)) return false;
    const std::vector<StaticMount> mounts = static_mounts(options);
    const std::optional<StaticPath> path = static_path(target, mounts);
    if (!path) return false;
    const unique_fd fd = open_beneath(path->mount->dir, path->relative);
    struct stat st {};
    return fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string_view static_content_type(std::string_view name) {
    for (const ContentType& entry : kContentTypes)
        if (name.ends_with(entry.extension)) return entry.type;
    return "application/octet-stream";
}

boost::asio::awaitable<void> handle_static(Exchange& exchange) {
    const std::vector<StaticMount> mounts = static_mounts(exchange.options);
    const std::optional<StaticPath> path = static_path(exchange.request.target(), mounts);
    std::optional<StaticFile> file;
    if (path) file = read_file(*path);
    if (!file) {
        const std::string message = "no such endpoint or file: " + std::string(exchange.request.target());
        Response missing = json_response(404, error_body(message));
        if (exchange.request.method() == http::verb::head) {
            missing.content_length(missing.body().size());
            missing.body().clear();
        }
        co_await exchange.responder.send(std::move(missing));
        co_return;
    }
    Response response = file_response(exchange.request, *file, path->relative);
    co_await exchange.responder.send(std::move(response));
}

}  // namespace jaild::gateway
