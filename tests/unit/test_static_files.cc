// The static files' path rules (gateway/static_files.h) and GET /limits's body (gateway/limits_route.h): pure,
// no sockets. The gateway tests (test_gateway_playground.cc) serve real files, symlinks included.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "gateway/limits_route.h"
#include "gateway/static_files.h"

using namespace jaild::gateway;
namespace json = boost::json;

namespace {

const std::vector<StaticMount> kMounts = {{"/vendor/termjs/", "/x"}, {"/", "/www"}};

std::string served(std::string_view target) {
    const auto path = static_path(target, kMounts);
    return path ? path->mount->dir + ":" + path->relative : "none";
}

}  // namespace

TEST_CASE("static files: a request path to a file below one mount", "[unit][static]") {
    CHECK(served("/") == "/www:index.html");
    CHECK(served("/app.js?v=2") == "/www:app.js");
    CHECK(served("/sub/") == "/www:sub/index.html");
    CHECK(served("/vendor/termjs/term.js") == "/x:term.js");
    CHECK(served("/vendor/termjs/") == "/x:index.html");
    CHECK(served("/vendor/other/x.js") == "/www:vendor/other/x.js");
    CHECK(served("/with%20space.css") == "/www:with space.css");
    for (const char* target : {"/../etc/passwd", "/a/../../b", "/%2e%2e/x", "/a%2Fb", "/a%2f..%2f..%2fb", "/a%5cb",
                               "/a%00.js", "/%252e%252e/x", "/.git/config", "/a/.env", "//etc/passwd", "/a//b", "/./a",
                               "/a\\b", "/%zz", "relative", "/vendor/termjs/../../www/x"}) {
        INFO(target);
        CHECK(served(target) == "none");
    }
}

TEST_CASE("static files: content types by extension", "[unit][static]") {
    CHECK(static_content_type("index.html") == "text/html; charset=utf-8");
    CHECK(static_content_type("lib/codemirror.js") == "text/javascript; charset=utf-8");
    CHECK(static_content_type("xterm.css") == "text/css; charset=utf-8");
    CHECK(static_content_type("shot.png") == "image/png");
    CHECK(static_content_type("blob.bin") == "application/octet-stream");
    CHECK(static_content_type("noextension") == "application/octet-stream");
}

TEST_CASE("static files: the mounts of the options, vendor prefixes before /", "[unit][static]") {
    GatewayOptions options;
    auto mounts = static_mounts(options);
    REQUIRE(mounts.size() == 3);
    CHECK(mounts.back().prefix == "/");
    CHECK(mounts.back().dir == "/usr/share/jaild/www");
    options.www_dir.clear();
    options.www_vendor.clear();
    CHECK(static_mounts(options).empty());
}

TEST_CASE("GET /limits: the body from jaild's limit sets and the caller's quotas", "[unit][static]") {
    jaild::v1::LimitSets sets;
    sets.mutable_defaults()->set_cpu_ms(5000);
    sets.mutable_defaults()->set_memory_kb(262144);
    sets.mutable_maxima()->set_cpu_ms(20000);
    sets.mutable_maxima()->set_wall_ms(600000);
    sets.mutable_maxima()->set_memory_kb(2097152);
    EffectiveLimits quotas;
    quotas.sessions = 5;
    const json::value body = json::parse(limits_body(sets, quotas, "acme"));
    CHECK(body.at("tenant") == "acme");
    CHECK(body.at("defaults").at("cpu_ms") == 5000);
    CHECK(body.at("maxima").at("wall_ms") == 600000);
    CHECK(body.at("script_defaults").at("cpu_ms") == 20000);  // 30 s, lowered to the maximum
    CHECK(body.at("script_defaults").at("wall_ms") == 30000);
    CHECK(body.at("script_defaults").at("memory_kb") == 307200);
    CHECK(body.at("quotas").at("sessions") == 5);
    CHECK(body.at("quotas").at("session_disk_kb").is_null());
    CHECK(json::parse(limits_body(sets, quotas, "")).at("tenant").is_null());
}
