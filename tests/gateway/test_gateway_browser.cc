// Browsers: CORS for the origins in [gateway] cors_origins, checked header by header over HTTP and then with a
// real headless Chromium whose pages, served from other localhost ports, fetch() the gateway.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"
#include "tests/support/skip.h"

using namespace jaild::test;
namespace json = boost::json;

namespace {

constexpr const char* kExposed =
    "X-Request-Id, X-Jaild-Node, Retry-After, RateLimit-Policy, RateLimit, WWW-Authenticate";
constexpr const char* kIde = "http://ide.example.com:5173";

std::string config_file(const std::string& dir, const std::string& gateway_toml) {
    const std::string path = dir + "/gateway.toml";
    std::ofstream(path) << "[gateway]\n" << gateway_toml << "\n";
    return path;
}

// jaild and a gateway configured with `gateway_toml` (keys of [gateway]).
struct ConfiguredStack {
    explicit ConfiguredStack(const std::string& gateway_toml)
        : gateway(daemon.socket(), {"--config", config_file(dir.path(), gateway_toml)}) {}
    TempDir dir;
    Daemon daemon;
    GatewayProcess gateway;
    int port() const { return gateway.port(); }
};

Headers preflight(const std::string& origin, const std::string& method) {
    return {{"Origin", origin},
            {"Access-Control-Request-Method", method},
            {"Access-Control-Request-Headers", "content-type,x-request-id"}};
}

void check_allowed(const std::map<std::string, std::string>& headers, const std::string& origin) {
    auto get = [&](const char* name) { return headers.count(name) ? headers.at(name) : std::string("<none>"); };
    CHECK(get("access-control-allow-origin") == origin);
    CHECK(get("access-control-expose-headers") == kExposed);
    CHECK(get("vary") == "Origin");
}

void check_no_cors(const std::map<std::string, std::string>& headers) {
    for (const char* name : {"access-control-allow-origin", "access-control-expose-headers",
                             "access-control-allow-methods", "access-control-allow-headers"})
        CHECK(headers.count(name) == 0);
}

}  // namespace

TEST_CASE("gateway browsers: CORS for the listed origins only", "[gateway][cors]") {
    ConfiguredStack stack(std::string("cors_origins = [\"") + kIde + "\", \"https://other.example\"]");

    // Preflights: 204, the path's own methods, the headers clients send; never a key.
    auto response = http_request(stack.port(), "OPTIONS", "/execute", "", preflight(kIde, "POST"));
    CHECK(response.status == 204);
    CHECK(response.body.empty());
    check_allowed(response.headers, kIde);
    CHECK(response.header("access-control-allow-methods") == "POST");
    CHECK(response.header("access-control-allow-headers") == "Content-Type, Authorization, X-API-Key, X-Request-Id");
    CHECK(response.header("access-control-max-age") == "600");
    CHECK(response.header("allow") == "POST");
    CHECK(response.header("x-request-id").size() == 32);
    response = http_request(stack.port(), "OPTIONS", "/sessions/abc", "", preflight(kIde, "DELETE"));
    CHECK(response.status == 204);
    CHECK(response.header("access-control-allow-methods") == "GET, DELETE");
    response = http_request(stack.port(), "OPTIONS", "/sessions/abc/files/dir/a.txt", "", preflight(kIde, "PUT"));
    CHECK(response.header("access-control-allow-methods") == "GET, PUT, DELETE");
    response = http_request(stack.port(), "OPTIONS", "/nowhere", "", preflight(kIde, "POST"));
    CHECK(response.status == 404);
    check_allowed(response.headers, kIde);  // an error a page may read

    // A page of another origin: no CORS headers (the browser then refuses), whatever it asks.
    for (const char* other : {"http://evil.example.com:5173", "http://ide.example.com:5174", "null"}) {
        INFO(other);
        response = http_request(stack.port(), "OPTIONS", "/execute", "", preflight(other, "POST"));
        CHECK(response.status == 204);
        check_no_cors(response.headers);
        CHECK(response.header("vary") == "Origin");
        CHECK(response.header("allow") == "POST");
        response = post_json(stack.port(), "/run", R"({"command":["/bin/true"]})", {{"Origin", other}});
        CHECK(response.status == 200);
        check_no_cors(response.headers);
    }

    // Answers of every kind carry the headers for a listed origin: results, errors, 404, 405, streamed NDJSON,
    // and an answer to a request that could not be read.
    const Headers from_ide = {{"Origin", kIde}};
    response = post_json(stack.port(), "/run", R"({"command":["/bin/echo","hi"]})", from_ide);
    CHECK(response.status == 200);
    check_allowed(response.headers, kIde);
    response = post_json(stack.port(), "/run", R"({"command":1})", from_ide);
    CHECK(response.status == 400);
    check_allowed(response.headers, kIde);
    response = http_request(stack.port(), "GET", "/run", "", from_ide);
    CHECK(response.status == 405);
    check_allowed(response.headers, kIde);
    response = http_request(stack.port(), "GET", "/health", "", {{"Origin", "https://other.example"}});
    CHECK(response.status == 200);
    check_allowed(response.headers, "https://other.example");
    const std::string print_one = R"J({"language":"python","code":"print(1)"})J";
    const auto stream =
        post_stream(stack.port(), "/execute", print_one, {{"Origin", kIde}, {"Accept", "application/x-ndjson"}});
    CHECK(stream.status == 200);
    check_allowed(stream.headers, kIde);
    REQUIRE(!stream.lines.empty());
    CHECK(json::parse(stream.lines.back().text).at("status") == "ok");
    response = post_json(stack.port(), "/run", std::string(2 * 1024 * 1024, ' '), from_ide);
    CHECK(response.status == 413);
    check_allowed(response.headers, kIde);
    // Without Origin (curl, a server): only Vary.
    response = post_json(stack.port(), "/run", R"({"command":["/bin/true"]})");
    check_no_cors(response.headers);
    CHECK(response.header("vary") == "Origin");
}

TEST_CASE("gateway browsers: no CORS by default, any origin with \"*\"", "[gateway][cors]") {
    {
        Stack stack;  // no cors_origins
        auto response = http_request(stack.port(), "OPTIONS", "/execute", "", preflight(kIde, "POST"));
        CHECK(response.status == 204);
        CHECK(response.header("allow") == "POST");
        check_no_cors(response.headers);
        CHECK(response.headers.count("vary") == 0);
        response = post_json(stack.port(), "/run", R"({"command":["/bin/true"]})", {{"Origin", kIde}});
        check_no_cors(response.headers);
        CHECK(response.headers.count("vary") == 0);
    }
    ConfiguredStack stack("cors_origins = [\"*\"]");
    auto response = http_request(stack.port(), "OPTIONS", "/run", "", preflight("https://anyone.example", "POST"));
    CHECK(response.status == 204);
    check_allowed(response.headers, "*");
    CHECK(response.header("access-control-allow-methods") == "POST");
    response = post_json(stack.port(), "/run", R"({"command":["/bin/true"]})", {{"Origin", "https://x.example"}});
    check_allowed(response.headers, "*");
}

TEST_CASE("gateway browsers: a wrong cors_origins stops the gateway at start", "[gateway][cors]") {
    TempDir dir;
    const std::string config = config_file(dir.path(), "cors_origins = [\"https://ide.example.com/\"]");
    JailctlCall call;  // the jailctl runner starts any program: here the gateway
    call.program = bin("jaild-gateway");
    call.args = {"--listen", "127.0.0.1:1", "--config", config};
    const Jailctl ran = run_jailctl(call);
    const std::string output = ran.out + ran.err;
    CHECK(ran.exit_code != 0);
    CHECK(output.find("gateway.cors_origins: \"https://ide.example.com/\" has a path") != std::string::npos);
}

TEST_CASE("gateway browsers: headless Chromium fetches from a listed origin and is refused from another",
          "[gateway][cors][browser]") {
    const int allowed = free_port();
    const int refused = free_port();
    ConfiguredStack stack("cors_origins = [\"http://127.0.0.1:" + std::to_string(allowed) + "\"]");
    JailctlCall call;  // the jailctl runner starts any program: here the browser's script
    call.program = "/usr/bin/python3";
    call.args = {source_path("tests/gateway/browser_cors.py"), "http://127.0.0.1:" + std::to_string(stack.port()),
                 std::to_string(allowed), std::to_string(refused)};
    call.timeout = std::chrono::minutes(5);
    const Jailctl ran = run_jailctl(call);
    const std::string output = ran.out + ran.err;
    if (ran.exit_code == 77) {
        skip(output.substr(output.find("SKIPPED: ") + 9));  // "SKIPPED: not installed: ..."
        return;
    }
    INFO(output);
    REQUIRE(ran.exit_code == 0);
    const json::object result = json::parse(ran.out.substr(ran.out.rfind("\n{") + 1)).as_object();
    UNSCOPED_INFO(std::string(result.at("user_agent").as_string()));

    const json::object& page = result.at("allowed").as_object();
    const json::object& execute = page.at("execute").as_object();
    REQUIRE(execute.at("ok") == true);
    CHECK(execute.at("status") == 200);
    CHECK(execute.at("body").at("stdout") == "42\n");
    CHECK(execute.at("request_id") == "browser-1");  // an exposed header the page can read
    const json::array& lines = page.at("stream").at("body").as_array();
    REQUIRE(lines.size() >= 2);
    CHECK(lines.back().at("type") == "result");
    CHECK(lines.back().at("stdout") == "a\nb\n");
    CHECK(page.at("invalid").at("status") == 400);
    CHECK(page.at("invalid").at("body").at("field") == "command");
    CHECK(page.at("session").at("status") == 201);
    CHECK(page.at("put").at("status") == 201);     // PUT: preflighted
    CHECK(page.at("delete").at("status") == 200);  // DELETE: preflighted
    CHECK(page.at("health").at("body").at("status") == "healthy");

    // The other origin's page sees nothing: each fetch fails in the browser (no run was even sent for the
    // preflighted ones).
    for (const auto& probe : result.at("refused").as_object()) {
        INFO(probe.key());
        CHECK(probe.value().at("ok") == false);
        CHECK(std::string(probe.value().at("error").as_string()).find("Failed to fetch") != std::string::npos);
    }
    CHECK(result.at("refused").as_object().size() == 5);  // execute, stream, invalid, session, health
}
