// jaild-gateway's HTTP API against a real jaild: seed 003's /run, validation, streaming, encodings.
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

using namespace jaild::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

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

    // Seed 003's example; git is part of what scripts/bootstrap and the package install.
    response = post_json(stack.port(), "/run",
                         R"({"command": ["git", "--version"], "time": 5000, "mem": 2097152, "fsize": 10240,)"
                         R"( "nofile": 64})");
    REQUIRE(response.status == 200);
    CHECK(std::string(response.json().at("stdout").as_string()).rfind("git version ", 0) == 0);
    CHECK(response.json().at("exit_code") == 0);
    // What seed 003's client sends with every command, within the default maxima.
    response = post_json(stack.port(), "/run", R"({"command": ["/bin/true"], "time": 300000, "mem": 2097152})");
    CHECK(response.status == 200);
    CHECK(response.json().at("status") == "ok");

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
    CHECK(response.json().at("signal") == 9);  // a number: seed 003's client computes 128 + signal
    CHECK(response.json().at("signal_name") == "SIGKILL");
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

// One invalid request: its body, the field the 400 names ("null" for none) and the start of its error text.
struct Invalid {
    std::string body;
    std::string field;
    std::string error;
};

void check_invalid(int port, const std::string& target, const std::vector<Invalid>& cases) {
    for (const Invalid& c : cases) {
        INFO(target << " " << c.body);
        const auto response = post_json(port, target, c.body);
        CHECK(response.status == 400);
        if (response.status != 400) continue;
        CHECK(response.header("content-type") == "application/json");
        CHECK(response.header("x-request-id").size() == 32);
        CHECK(field_of(response) == c.field);
        CHECK(std::string(response.json().at("error").as_string()).rfind(c.error, 0) == 0);
    }
}

TEST_CASE("gateway: every validation error of /run", "[gateway]") {
    Stack stack;
    std::vector<Invalid> cases = {
        {"{not json", "null", "request body is not valid JSON"},
        {"[]", "null", "request body must be a JSON object"},
        {R"("text")", "null", "request body must be a JSON object"},
        {"{}", "command", "command is required and must not be empty"},
        {R"({"command":[]})", "command", "command is required and must not be empty"},
        {R"({"command":"ls"})", "command", "command must be an array of strings"},
        {R"({"command":["ls",1]})", "command", "command must be an array of strings"},
        {R"({"command":["ls"],"env":[]})", "env", "env must be an object of strings"},
        {R"({"command":["ls"],"env":{"A":1}})", "env.A", "env.A must be a string"},
        {R"({"command":["ls"],"cwd":1})", "cwd", "cwd must be a string"},
        {R"({"command":["ls"],"stdin":null})", "stdin", "stdin must be a string"},
        {R"({"command":["ls"],"stream":"yes"})", "stream", "stream must be a boolean"},
        {R"({"command":["ls"],"encoding":1})", "encoding", "encoding must be a string"},
        {R"({"command":["ls"],"encoding":"latin1"})", "encoding", R"(encoding must be "utf-8" or "base64")"},
        {R"({"command":["ls"],"unknown":true})", "unknown", "unknown field unknown"},
        {R"({"command":["ls"],"nofile":4294967296})", "nofile",
         "nofile must be a non-negative integer of at most 4294967295"},
        // Refused by jaild, reported in the request's words.
        {R"({"command":["ls"],"time":999999})", "time", "time 999999 exceeds the maximum 300000"},
        {R"({"command":["ls"],"wall":999999})", "wall", "wall 999999 exceeds the maximum"},
        {R"({"command":["ls"],"mem":99999999999})", "mem", "mem 99999999999 exceeds the maximum"},
        {R"({"command":["ls"],"fsize":99999999})", "fsize", "fsize 99999999 exceeds the maximum"},
        {R"({"command":["ls"],"nofile":99999})", "nofile", "nofile 99999 exceeds the maximum"},
        {R"({"command":["ls"],"nproc":99999})", "nproc", "nproc 99999 exceeds the maximum"},
        {R"({"command":["ls"],"output":999999999})", "output", "output 999999999 exceeds the maximum"},
        {R"({"command":["ls"],"cwd":"relative"})", "cwd", "cwd must be an absolute path"},
        {R"({"command":["ls"],"env":{"A=B":"x"}})", "env", "invalid environment variable name"},
        {R"({"command":[""]})", "command", ""},
        {R"({"command":["ls","a\u0000b"]})", "command", ""},
    };
    // Every limit: a string, a negative number and a fraction are refused before jaild sees them.
    for (const char* limit : {"time", "wall", "mem", "fsize", "nofile", "nproc", "output"}) {
        for (const char* value : {R"("fast")", "-1", "1.5"}) {
            const std::string message = std::string(limit) + " must be a non-negative integer";
            cases.push_back({R"({"command":["ls"],")" + std::string(limit) + "\":" + value + "}", limit, message});
        }
    }
    check_invalid(stack.port(), "/run", cases);

    // Not a validation error: Content-Type parameters are allowed.
    auto response = http_request(stack.port(), "POST", "/run", R"({"command":["/bin/echo","ok"]})",
                                 {{"Content-Type", "application/json; charset=utf-8"}});
    CHECK(response.status == 200);
    response = http_request(stack.port(), "POST", "/run", R"({"command":["ls"]})", {{"Content-Type", "text/plain"}});
    CHECK(response.status == 415);
    CHECK(field_of(response) == "Content-Type");
    response = http_request(stack.port(), "POST", "/run", R"({"command":["ls"]})");
    CHECK(response.status == 415);
    response =
        http_request(stack.port(), "POST", "/run", R"({"command":["ls"]})", {{"Content-Type", "application/jsonp"}});
    CHECK(response.status == 415);
    response =
        post_json(stack.port(), "/run", R"({"command":["ls"],"stdin":")" + std::string(1100 * 1024, 'x') + "\"}");
    CHECK(response.status == 413);
    CHECK(response.json().at("error") == "request body larger than 1048576 bytes");
    CHECK(response.json().at("field").is_null());
    response = http_request(stack.port(), "GET", "/nowhere");
    CHECK(response.status == 404);
    CHECK(response.json().at("error").is_string());
    CHECK(response.json().at("field").is_null());
    response = http_request(stack.port(), "GET", "/run");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "POST");
    CHECK(response.json().at("error").is_string());
    response = http_request(stack.port(), "DELETE", "/health");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "GET");
    response = http_request(stack.port(), "GET", "/health", "", {{"X-Request-Id", std::string(129, 'a')}});
    CHECK(response.status == 400);
    CHECK(field_of(response) == "X-Request-Id");
    CHECK(response.header("x-request-id").size() == 32);  // a fresh one, not the refused one
    response = http_request(stack.port(), "GET", "/health", "", {{"X-Request-Id", "has space"}});
    CHECK(response.status == 400);
    CHECK(field_of(response) == "X-Request-Id");
    check_nothing_left(stack.daemon.run_dir());
}

TEST_CASE("gateway: every validation error of /execute", "[gateway]") {
    Stack stack;
    const std::vector<Invalid> cases = {
        {"{not json", "null", "request body is not valid JSON"},
        {"[1]", "null", "request body must be a JSON object"},
        {"{}", "code", "code (or script) is required"},
        {R"J({"code":"print(1)"})J", "language", "language is required with code"},
        {R"({"language":1,"code":"x"})", "language", "language must be a string"},
        {R"({"language":"python","code":1})", "code", "code must be a string"},
        {R"({"language":"python","code":"x","args":"a"})", "args", "args must be an array of strings"},
        {R"({"language":"python","code":"x","args":[1]})", "args", "args must be an array of strings"},
        {R"({"language":"python","code":"x","env":"A=1"})", "env", "env must be an object of strings"},
        {R"({"language":"python","code":"x","env":{"A":true}})", "env.A", "env.A must be a string"},
        {R"({"language":"python","code":"x","stdin":5})", "stdin", "stdin must be a string"},
        {R"({"language":"python","code":"x","files":["a"]})", "files", "files must be an object"},
        {R"({"language":"python","code":"x","files":{"a.txt":1}})", "files.a.txt", "files.a.txt must be a string"},
        {R"({"language":"python","code":"x","limits":5})", "limits", "limits must be an object"},
        {R"({"language":"python","code":"x","limits":{"cpu":1}})", "cpu", "unknown field cpu in limits"},
        {R"({"language":"python","code":"x","limits":{"time":-1}})", "time", "time must be a non-negative integer"},
        {R"({"language":"python","code":"x","limits":{"mem":"big"}})", "mem", "mem must be a non-negative integer"},
        {R"({"language":"python","code":"x","mem":"big"})", "mem", "mem must be a non-negative integer"},
        {R"({"language":"python","code":"x","mem":1,"limits":{"mem":1}})", "mem", "mem is given twice"},
        {R"({"language":"python","code":"x","stream":1})", "stream", "stream must be a boolean"},
        {R"({"language":"python","code":"x","encoding":"hex"})", "encoding", "encoding must be"},
        {R"({"language":"python","code":"x","command":["ls"]})", "command", "unknown field command"},
        {R"({"script":1})", "script", "script must be a string"},
        {R"({"script":"def main(): pass","code":"x"})", "script", "give either code or script, not both"},
        {R"({"script":"def main(): pass","language":"ruby"})", "language", "a script is Python"},
        {R"({"script":"x = 1"})", "script", "Script must contain a 'main()' function"},
        {R"({"script":"  def main(): pass"})", "script", "Script must contain a 'main()' function"},
    };
    check_invalid(stack.port(), "/execute", cases);
    auto response = http_request(stack.port(), "POST", "/execute", R"({"script":"def main(): pass"})");
    CHECK(response.status == 415);
    response = post_json(stack.port(), "/execute", R"({"script":")" + std::string(1100 * 1024, 'x') + "\"}");
    CHECK(response.status == 413);
    response = http_request(stack.port(), "GET", "/execute");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "POST");
    response = http_request(stack.port(), "POST", "/languages");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "GET");
}

TEST_CASE("gateway: X-Request-Id is accepted or generated, returned and passed to jaild", "[gateway]") {
    Stack stack;
    // Generated: returned, and jaild's log lines carry it.
    auto response = post_json(stack.port(), "/run", R"({"command":["/bin/true"]})");
    REQUIRE(response.status == 200);
    const std::string generated = response.header("x-request-id");
    CHECK(generated.size() == 32);
    CHECK(generated.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(wait_until([&] { return stack.daemon.log().find(generated) != std::string::npos; }, 2s));
    CHECK(post_json(stack.port(), "/run", R"({"command":["/bin/true"]})").header("x-request-id") != generated);

    // Given: the longest allowed id, on a streamed answer.
    const std::string given(128, 'z');
    auto streamed =
        post_stream(stack.port(), "/run", R"({"command":["/bin/echo","s"],"stream":true})", {{"X-Request-Id", given}});
    REQUIRE(streamed.status == 200);
    CHECK(streamed.headers["x-request-id"] == given);
    CHECK(wait_until([&] { return stack.daemon.log().find(given) != std::string::npos; }, 2s));

    // Error answers carry it too, whether the gateway or jaild refused the request.
    for (const char* body : {R"({"command":"ls"})", R"({"command":["ls"],"time":999999})"}) {
        response = post_json(stack.port(), "/run", body, {{"X-Request-Id", "err-1"}});
        CHECK(response.status == 400);
        CHECK(response.header("x-request-id") == "err-1");
    }
    response = http_request(stack.port(), "GET", "/nowhere", "", {{"X-Request-Id", "err-2"}});
    CHECK(response.header("x-request-id") == "err-2");
    response = http_request(stack.port(), "GET", "/health", "", {{"X-Request-Id", "health-1"}});
    CHECK(response.header("x-request-id") == "health-1");
}

TEST_CASE("gateway: /execute and /languages reach jaild", "[gateway]") {
    Stack stack;
    auto response = post_json(stack.port(), "/execute", R"J({"language":"python","code":"print('hello')"})J");
    CHECK(response.status == 200);
    CHECK(response.json().at("stdout") == "hello\n");
    response = post_json(stack.port(), "/execute", R"({"script":"def main():\n    return {'result': 42}"})");
    CHECK(response.status == 200);
    CHECK(json::serialize(response.json().at("result")) == R"({"result":42})");
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
    CHECK(field_of(response) == "time");
    response = post_json(stack.port(), "/execute", R"({"language":"cobol","code":"x"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "language");
    response = http_request(stack.port(), "GET", "/languages");
    CHECK(response.status == 200);
    CHECK(response.json().at("languages").as_array().size() >= 7);
}

TEST_CASE("gateway: streaming arrives live", "[gateway]") {
    Stack stack;
    const std::string body = R"({"command":["/bin/sh","-c","echo a; sleep 2; echo b >&2"],"stream":true})";
    const auto sent = std::chrono::steady_clock::now();
    auto streamed = post_stream(stack.port(), "/run", body);
    REQUIRE(streamed.status == 200);
    REQUIRE(!streamed.lines.empty());
    CHECK(streamed.lines.front().at - sent < 1500ms);  // the first line came while the program still slept
    CHECK(streamed.headers["content-type"] == "application/x-ndjson");
    CHECK(streamed.headers["transfer-encoding"] == "chunked");
    REQUIRE(streamed.lines.size() == 3);
    CHECK(streamed.lines[0].text == R"({"type":"stdout","data":"a\n"})");
    CHECK(streamed.lines[1].text == R"({"type":"stderr","data":"b\n"})");
    CHECK(streamed.lines.back().at - streamed.lines.front().at >= 1500ms);
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
    streamed = post_stream(stack.port(), "/run", R"({"command":["ls"],"time":999999,"stream":true})");
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
