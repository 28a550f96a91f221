// jaild-gateway's HTTP API against a real jaild: seed 003's /run, validation, streaming, encodings.
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "../integration/harness.h"
#include "http_client.h"

using namespace jaild::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A jaild and a gateway in front of it, for one test.
struct Stack {
    Daemon daemon;
    GatewayProcess gateway{daemon.socket()};
    int port() const { return gateway.port(); }
};

std::string field_of(const HttpResponse& response) {
    const auto body = response.json();
    return body.at("field").is_null() ? std::string("null") : std::string(body.at("field").as_string());
}

}  // namespace

TEST_CASE("gateway: seed 003's /run examples", "[gateway]") {
    Stack stack;
    auto response = post_json(stack.port(), "/run", R"({"command": ["/bin/echo", "Hello from sandbox!"]})");
    REQUIRE(response.status == 200);
    CHECK(response.header("content-type") == "application/json");
    const auto body = response.json().as_object();
    CHECK(body.at("stdout") == "Hello from sandbox!\n");
    CHECK(body.at("stderr") == "");
    CHECK(body.at("exit_code") == 0);
    CHECK(body.at("signal").is_null());
    CHECK(body.at("status") == "ok");
    CHECK(body.at("error").is_null());
    CHECK(body.at("truncated") == false);
    CHECK(body.at("result").is_null());
    CHECK(body.at("trace").is_null());
    for (const char* key : {"wall_ms", "cpu_ms", "memory_kb"}) CHECK(body.at(key).is_number());
    CHECK(response.header("x-request-id").size() == 32);  // generated: random hex

    if (::access("/usr/bin/git", X_OK) == 0) {
        response = post_json(stack.port(), "/run",
                             R"({"command": ["git", "--version"], "time": 5000, "mem": 2097152, "fsize": 10240,)"
                             R"( "nofile": 64})");
        REQUIRE(response.status == 200);
        CHECK(std::string(response.json().at("stdout").as_string()).rfind("git version ", 0) == 0);
        CHECK(response.json().at("exit_code") == 0);
    } else {
        WARN("git is not installed in /usr/bin: seed 003's git --version example skipped");
    }

    response = post_json(stack.port(), "/run",
                         R"({"command":["/bin/sh","-c","echo $A; pwd; read x; echo $x; exit 3"],)"
                         R"("env":{"A":"from-env"},"cwd":"/tmp","stdin":"typed\n"})",
                         {{"X-Request-Id", "my-request-1"}});
    REQUIRE(response.status == 200);
    CHECK(response.json().at("stdout") == "from-env\n/tmp\ntyped\n");
    CHECK(response.json().at("exit_code") == 3);
    CHECK(response.json().at("status") == "runtime_error");
    CHECK(response.header("x-request-id") == "my-request-1");
    CHECK(stack.daemon.log().find("my-request-1") != std::string::npos);

    response = post_json(stack.port(), "/run", R"({"command":["/bin/sh","-c","kill -9 $$"]})");
    CHECK(response.json().at("signal") == "SIGKILL");
    response = post_json(stack.port(), "/run", R"({"command":["/bin/sh","-c","while :; do :; done"],"time":300})");
    CHECK(response.json().at("status") == "timeout");
    check_nothing_left(stack.daemon.run_dir());
}

TEST_CASE("gateway: /health", "[gateway]") {
    Stack stack;
    auto response = http_request(stack.port(), "GET", "/health");
    CHECK(response.status == 200);
    CHECK(json::serialize(response.json()) == R"({"status":"healthy"})");
    stack.daemon.terminate();
    response = http_request(stack.port(), "GET", "/health");
    CHECK(response.status == 503);
    CHECK(response.json().at("status") == "unhealthy");
    CHECK(std::string(response.json().at("error").as_string()).rfind("jaild unreachable: ", 0) == 0);
    response = post_json(stack.port(), "/run", R"({"command":["/bin/true"]})");
    CHECK(response.status == 503);
    CHECK(response.header("retry-after") == "1");
}

TEST_CASE("gateway: validation errors", "[gateway]") {
    Stack stack;
    struct Case {
        const char* body;
        const char* field;
    };
    const Case cases[] = {
        {R"({"command":"ls"})", "command"},
        {R"({"command":["ls"],"time":"fast"})", "time"},
        {R"({"command":["ls"],"mem":-1})", "mem"},
        {R"({"command":["ls"],"env":{"A":1}})", "env.A"},
        {R"({"command":["ls"],"unknown":true})", "unknown"},
        {R"({"command":["ls"],"time":99999})", "time"},      // jaild: above the maximum
        {R"({"command":["ls"],"wall":999999})", "wall"},     // jaild
        {R"({"command":["ls"],"mem":99999999999})", "mem"},  // jaild
        {R"({"command":["ls"],"cwd":"relative"})", "cwd"},   // jaild
        {R"({"command":["ls"],"env":{"A=B":"x"}})", "env"},  // jaild
        {R"({"command":[""]})", "command"},                  // jaild: argv[0] empty
    };
    for (const Case& c : cases) {
        INFO(c.body);
        const auto response = post_json(stack.port(), "/run", c.body);
        CHECK(response.status == 400);
        CHECK(field_of(response) == c.field);
    }
    auto response = post_json(stack.port(), "/run", R"({"command":["ls"],"time":99999})");
    CHECK(response.json().at("error") == "time 99999 exceeds the maximum 30000");

    response = post_json(stack.port(), "/run", "{not json");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "null");
    response = http_request(stack.port(), "POST", "/run", R"({"command":["ls"]})", {{"Content-Type", "text/plain"}});
    CHECK(response.status == 415);
    response = http_request(stack.port(), "POST", "/run", R"({"command":["ls"]})");
    CHECK(response.status == 415);
    response =
        post_json(stack.port(), "/run", R"({"command":["ls"],"stdin":")" + std::string(1100 * 1024, 'x') + "\"}");
    CHECK(response.status == 413);
    response = http_request(stack.port(), "GET", "/nowhere");
    CHECK(response.status == 404);
    CHECK(response.json().at("error").is_string());
    response = http_request(stack.port(), "GET", "/run");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "POST");
    response = http_request(stack.port(), "DELETE", "/health");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "GET");
    response = http_request(stack.port(), "GET", "/health", "", {{"X-Request-Id", std::string(129, 'a')}});
    CHECK(response.status == 400);
    CHECK(field_of(response) == "X-Request-Id");
}

TEST_CASE("gateway: /execute and /languages reach jaild", "[gateway]") {
    Stack stack;
    auto response = post_json(stack.port(), "/execute", R"J({"language":"python","code":"print('hello')"})J");
    CHECK(response.status == 501);
    CHECK(std::string(response.json().at("error").as_string()).find("execute") != std::string::npos);
    CHECK(response.json().at("field").is_null());
    response = post_json(stack.port(), "/execute", R"({"script":"def main():\n    return {'result': 42}"})");
    CHECK(response.status == 501);
    response = post_json(stack.port(), "/execute", R"({"script":"x = 1"})");
    CHECK(response.status == 400);
    CHECK(response.json().at("error") == "Script must contain a 'main()' function");
    response =
        post_json(stack.port(), "/execute",
                  json::serialize(json::object{{"script", "def main(): pass\n#" + std::string(51 * 1024, 'x')}}));
    CHECK(response.status == 400);
    CHECK(response.json().at("error") == "Invalid script size");
    response = post_json(stack.port(), "/execute", R"({"language":"python","code":"x","limits":{"time":-1}})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "limits.time");
    response = http_request(stack.port(), "GET", "/languages");
    CHECK(response.status == 501);
}

TEST_CASE("gateway: streaming arrives live", "[gateway]") {
    Stack stack;
    const std::string body = R"({"command":["/bin/sh","-c","echo a; sleep 1.5; echo b >&2"],"stream":true})";
    auto streamed = post_stream(stack.port(), "/run", body);
    REQUIRE(streamed.status == 200);
    CHECK(streamed.headers["content-type"] == "application/x-ndjson");
    CHECK(streamed.headers["transfer-encoding"] == "chunked");
    REQUIRE(streamed.lines.size() == 3);
    CHECK(streamed.lines[0].text == R"({"type":"stdout","data":"a\n"})");
    CHECK(streamed.lines[1].text == R"({"type":"stderr","data":"b\n"})");
    CHECK(streamed.lines.back().at - streamed.lines.front().at >= 1s);
    const auto result = json::parse(streamed.lines.back().text);
    CHECK(result.at("type") == "result");
    CHECK(result.at("status") == "ok");
    CHECK(result.at("stdout") == "a\n");
    CHECK(result.at("stderr") == "b\n");

    // Accept: application/x-ndjson asks for the same.
    streamed =
        post_stream(stack.port(), "/run", R"({"command":["/bin/echo","x"]})", {{"Accept", "application/x-ndjson"}});
    REQUIRE(streamed.lines.size() == 2);
    CHECK(json::parse(streamed.lines.back().text).at("type") == "result");
    // An error before the run started is still a plain 400.
    streamed = post_stream(stack.port(), "/run", R"({"command":["ls"],"time":99999,"stream":true})");
    CHECK(streamed.status == 400);
    check_nothing_left(stack.daemon.run_dir());
}

TEST_CASE("gateway: output that is not UTF-8", "[gateway]") {
    Stack stack;
    auto response = post_json(stack.port(), "/run", R"({"command":["/usr/bin/printf","a\\377b"]})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("stdout") ==
          "a\xEF\xBF\xBD"
          "b");
    response = post_json(stack.port(), "/run", R"({"command":["/usr/bin/printf","a\\377b"],"encoding":"base64"})");
    CHECK(response.json().at("stdout") == "Yf9i");
    auto streamed = post_stream(stack.port(), "/run",
                                R"({"command":["/usr/bin/printf","\\377"],"stream":true,"encoding":"base64"})");
    REQUIRE(streamed.lines.size() == 2);
    CHECK(json::parse(streamed.lines[0].text).at("data") == "/w==");
}

TEST_CASE("gateway: 50 concurrent runs", "[gateway]") {
    Stack stack;
    constexpr int kRuns = 50;
    std::vector<HttpResponse> responses(kRuns);
    std::vector<std::thread> threads;
    for (int i = 0; i < kRuns; ++i) {
        threads.emplace_back([&, i] {
            const std::string body =
                R"({"command":["/bin/sh","-c","sleep 0.2; echo run-)" + std::to_string(i) + R"("]})";
            responses[static_cast<std::size_t>(i)] = post_json(stack.port(), "/run", body);
        });
    }
    for (auto& thread : threads) thread.join();
    for (int i = 0; i < kRuns; ++i) {
        INFO("run " << i);
        const auto& response = responses[static_cast<std::size_t>(i)];
        REQUIRE(response.status == 200);
        CHECK(std::string(response.json().at("stdout").as_string()) == "run-" + std::to_string(i) + "\n");
    }
    check_nothing_left(stack.daemon.run_dir());
}
