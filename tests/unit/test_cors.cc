// gateway/cors and the cors_origins key: which answers carry CORS headers, what a preflight is told, and which
// configured origins are refused. Pure; no sockets (tests/gateway/test_gateway_browser.cc has the real clients).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "gateway/cors.h"
#include "gateway/options.h"
#include "tests/support/gateway.h"

using namespace jaild::gateway;
using jaild::test::gateway_options_from;

namespace {

std::string header(const HeaderList& headers, const std::string& name) {
    for (const auto& [key, value] : headers)
        if (key == name) return value;
    return "<none>";
}

}  // namespace

TEST_CASE("cors: a listed origin gets the headers, another gets none", "[unit][cors]") {
    const std::vector<std::string> allowed = {"https://ide.example.com", "http://localhost:5173"};
    HeaderList headers = cors_headers(allowed, "https://ide.example.com");
    CHECK(header(headers, "Access-Control-Allow-Origin") == "https://ide.example.com");
    CHECK(header(headers, "Vary") == "Origin");
    CHECK(header(headers, "Access-Control-Expose-Headers") ==
          "X-Request-Id, X-Jaild-Node, Retry-After, RateLimit-Policy, RateLimit, WWW-Authenticate");
    CHECK(cors_allowed(headers));
    CHECK(header(cors_headers(allowed, "http://localhost:5173"), "Access-Control-Allow-Origin") ==
          "http://localhost:5173");

    for (const char* other : {"https://evil.example.com", "http://ide.example.com", "https://ide.example.com:8443",
                              "http://localhost:5174", "null", "https://ide.example.com.evil.com"}) {
        INFO(other);
        headers = cors_headers(allowed, other);
        CHECK(headers == HeaderList{{"Vary", "Origin"}});
        CHECK_FALSE(cors_allowed(headers));
    }
    CHECK(cors_headers(allowed, "") == HeaderList{{"Vary", "Origin"}});  // not a browser's cross-origin request
    CHECK(cors_headers({}, "https://ide.example.com").empty());          // the default: nothing at all
    CHECK(header(cors_headers({"*"}, "https://anyone.example"), "Access-Control-Allow-Origin") == "*");
    CHECK(header(cors_headers({"https://a.example", "*"}, "https://b.example"), "Access-Control-Allow-Origin") == "*");
}

TEST_CASE("cors: the answer to OPTIONS", "[unit][cors]") {
    CHECK(options_headers("POST, GET", false) == HeaderList{{"Allow", "POST, GET"}});
    const HeaderList preflight = options_headers("POST", true);
    CHECK(header(preflight, "Allow") == "POST");
    CHECK(header(preflight, "Access-Control-Allow-Methods") == "POST");
    CHECK(header(preflight, "Access-Control-Allow-Headers") == "Content-Type, Authorization, X-API-Key, X-Request-Id");
    CHECK(header(preflight, "Access-Control-Max-Age") == "600");
}

TEST_CASE("cors: configured origins are spelled as browsers send them, or refused", "[unit][cors]") {
    CHECK(normalize_origin("*") == "*");
    CHECK(normalize_origin("https://IDE.Example.com") == "https://ide.example.com");
    CHECK(normalize_origin("https://ide.example.com:443") == "https://ide.example.com");
    CHECK(normalize_origin("http://localhost:80") == "http://localhost");
    CHECK(normalize_origin("http://localhost:8080") == "http://localhost:8080");
    CHECK(normalize_origin("https://localhost:80") == "https://localhost:80");
    CHECK(normalize_origin("http://[::1]:3000") == "http://[::1]:3000");
    CHECK(normalize_origin("http://[::1]") == "http://[::1]");
    CHECK(normalize_origin("chrome-extension://abcdef") == "chrome-extension://abcdef");
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"https://ide.example.com/", "has a path"},
        {"https://ide.example.com/app", "has a path"},
        {"https://ide.example.com?x", "has a path"},
        {"ide.example.com", "is not an origin"},
        {"://ide.example.com", "is not an origin"},
        {"1http://x", "is not an origin"},
        {"https://", "has no host"},
        {"https://:8080", "has no host"},
        {"https://user@ide.example.com", "has user info"},
        {"https://ide.example.com:0", "has a port"},
        {"https://ide.example.com:65536", "has a port"},
        {"https://ide.example.com:", "has a port"},
        {"https://ide.example.com:08", "has a port"},
        {"https://idé.example.com", "non-ASCII"},
        {"https://ide:80.example.com:443", "has a port"},  // a fuzz_http_head input: accepting it maps it elsewhere
        {"http://[::1", "neither a name nor a bracketed IPv6 address"},
        {"http://[::1]x", "has a port"},
        {"http://a]b", "neither a name nor a bracketed IPv6 address"},
        {"http://[[::1]]", "neither a name nor a bracketed IPv6 address"},
        {"https://ide example.com", "a space"},
        {"", "is not an origin"},
    };
    for (const auto& [entry, why] : refused) {
        INFO(entry);
        CHECK_THROWS_WITH(normalize_origin(entry),
                          Catch::Contains("gateway.cors_origins: \"" + entry + "\"") && Catch::Contains(why));
    }
}

TEST_CASE("cors: the [gateway] cors_origins key", "[unit][cors]") {
    CHECK(gateway_options_from("").cors_origins.empty());
    CHECK(gateway_options_from("[gateway]\ncors_origins = []\n").cors_origins.empty());
    CHECK(gateway_options_from("[gateway]\ncors_origins = [\"*\"]\n").cors_origins == std::vector<std::string>{"*"});
    CHECK(
        gateway_options_from("[gateway]\ncors_origins = [\"https://IDE.example.com:443\", \"http://localhost:5173\"]\n")
            .cors_origins == std::vector<std::string>{"https://ide.example.com", "http://localhost:5173"});
    CHECK_THROWS_WITH(gateway_options_from("[gateway]\ncors_origins = \"*\"\n"),
                      Catch::Contains("gateway.cors_origins must be an array of strings"));
    CHECK_THROWS_WITH(gateway_options_from("[gateway]\ncors_origins = [\"*\", 1]\n"),
                      Catch::Contains("gateway.cors_origins must be an array of strings"));
    CHECK_THROWS_WITH(gateway_options_from("[gateway]\ncors_origins = [\"https://x.example/\"]\n"),
                      Catch::Contains("has a path"));
    CHECK_THROWS_WITH(gateway_options_from("[gateway]\ncors_origin = [\"*\"]\n"),
                      Catch::Contains("unknown key gateway.cors_origin"));
}
