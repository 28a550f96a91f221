// E2B's code interpreter (a sandbox's port 49999) on jaild-gateway against a real jaild, spoken to as
// @e2b/code-interpreter 2.8.0 speaks it (docs/e2b.md, "Code interpreter"): the traffic token, /execute's lines,
// keepalives, the plain-text errors the SDK reads, the contexts, and a client that goes away interrupting its
// cell. The SDK itself drives it in tests/e2b/interpreter.mjs.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
namespace json = boost::json;

namespace {

std::string text(const json::value& value) { return value.is_string() ? std::string(value.as_string()) : ""; }

struct Sandbox {
    std::string id, envd_token, traffic_token;
};

Sandbox create(int port, const std::string& key) {
    const auto made = post_json(port, "/v2/sandboxes", R"({"templateID":"code-interpreter-v1"})", {{"X-API-KEY", key}});
    INFO(made.body);
    REQUIRE(made.status == 201);
    return {text(made.json().at("sandboxID")), text(made.json().at("envdAccessToken")),
            text(made.json().at("trafficAccessToken"))};
}

// The headers the SDK sends to the interpreter (the envd token too, on /execute only).
Headers interpreter(const Sandbox& sandbox) {
    return {{"E2b-Sandbox-Id", sandbox.id},
            {"E2b-Sandbox-Port", "49999"},
            {"E2B-Traffic-Access-Token", sandbox.traffic_token},
            {"X-Access-Token", sandbox.envd_token}};
}

// /execute's answer as its lines, each parsed; every line ends with a newline and none is empty.
std::vector<json::object> execute(int port, const Headers& headers, const std::string& body) {
    const auto response = post_json(port, "/execute", body, headers);
    INFO(body << " => " << response.body);
    REQUIRE(response.status == 200);
    CHECK(response.header("content-type") == "application/x-ndjson");
    REQUIRE(response.body.ends_with("\n"));
    std::vector<json::object> lines;
    for (std::size_t start = 0; start < response.body.size();) {
        const std::size_t end = response.body.find('\n', start);
        REQUIRE(end > start);
        lines.push_back(json::parse(response.body.substr(start, end - start)).as_object());
        start = end + 1;
    }
    REQUIRE(!lines.empty());
    CHECK(lines.back() == json::parse(R"({"type":"end_of_execution"})"));
    return lines;
}

std::vector<json::object> of_type(const std::vector<json::object>& lines, std::string_view type) {
    std::vector<json::object> out;
    for (const json::object& line : lines)
        if (line.at("type").as_string() == type) out.push_back(line);
    return out;
}

}  // namespace

TEST_CASE("e2b interpreter: calls need the sandbox's traffic token", "[gateway][e2b]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme");
    const std::string beta = keys.create("beta");
    KeyedStack stack(keys);
    const int port = stack.port();
    const Sandbox mine = create(port, acme);
    const Sandbox theirs = create(port, beta);

    Headers headers = interpreter(mine);
    const auto listed = http_request(port, "GET", "/contexts", "", headers);
    INFO(listed.body);
    REQUIRE(listed.status == 200);
    // The default context is there from the first call, as in E2B (its own tests look for a python one).
    REQUIRE(listed.json().as_array().size() == 1);
    CHECK(text(listed.json().at(0).at("language")) == "python");
    // No token, another tenant's sandbox's, the envd token in its place: 401 as E2B's proxy answers.
    for (const std::string& wrong : {std::string(), theirs.traffic_token, mine.envd_token}) {
        Headers bad = headers;
        bad.erase("E2B-Traffic-Access-Token");
        if (!wrong.empty()) bad["E2B-Traffic-Access-Token"] = wrong;
        for (const auto& [method, target] : {std::pair{"GET", "/contexts"}, std::pair{"POST", "/execute"}}) {
            const auto refused = http_request(port, method, target, R"({"code":"1"})", bad);
            INFO(method << " " << target << ": " << refused.body);
            CHECK(refused.status == 401);
            CHECK(refused.json().at("code") == 401);
        }
    }
}

TEST_CASE("e2b interpreter: /execute's lines, state across cells, errors, env_vars for one cell", "[gateway][e2b]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme");
    KeyedStack stack(keys);
    const int port = stack.port();
    const Headers headers = interpreter(create(port, acme));

    execute(port, headers, R"({"code":"x = 1"})");
    auto lines = execute(port, headers, R"({"code":"print('out'); x + 1"})");
    const auto stdout_lines = of_type(lines, "stdout");
    REQUIRE(stdout_lines.size() == 1);
    CHECK(stdout_lines[0].at("text") == "out\n");
    CHECK(text(stdout_lines[0].at("timestamp")).ends_with("Z"));
    const auto results = of_type(lines, "result");
    REQUIRE(results.size() == 1);
    CHECK(results[0].at("text") == "2");
    CHECK(results[0].at("is_main_result") == true);
    const auto counts = of_type(lines, "number_of_executions");
    REQUIRE(counts.size() == 1);
    CHECK(counts[0].at("execution_count") == 2);
    // A string's repr loses its quotes, as in E2B.
    CHECK(of_type(execute(port, headers, R"({"code":"'abc'"})"), "result").at(0).at("text") == "abc");

    lines = execute(port, headers, R"({"code":"1/0"})");
    const auto errors = of_type(lines, "error");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].at("name") == "ZeroDivisionError");
    CHECK(errors[0].at("value") == "division by zero");
    CHECK(text(errors[0].at("traceback")).find("1/0") != std::string::npos);

    // env_vars hold for their cell only, and put back what was there; they count no execution.
    execute(port, headers, R"({"code":"import os; os.environ['KEEP'] = 'old'"})");
    lines = execute(
        port, headers,
        R"x({"code":"print(os.environ['KEEP'], os.environ['ONLY'])","env_vars":{"KEEP":"new","ONLY":"x'\""}})x");
    CHECK(of_type(lines, "stdout").at(0).at("text") == "new x'\"\n");
    const auto before = of_type(lines, "number_of_executions").at(0).at("execution_count").as_int64();
    lines = execute(port, headers, R"({"code":"os.environ['KEEP'], 'ONLY' in os.environ"})");
    CHECK(of_type(lines, "result").at(0).at("text") == "('old', False)");
    CHECK(of_type(lines, "number_of_executions").at(0).at("execution_count") == before + 1);
    // Put back after a cell that raised too.
    lines = execute(port, headers, R"x({"code":"raise ValueError(os.environ['ONLY'])","env_vars":{"ONLY":"y"}})x");
    CHECK(of_type(lines, "error").at(0).at("value") == "y");
    lines = execute(port, headers, R"({"code":"'ONLY' in os.environ"})");
    CHECK(of_type(lines, "result").at(0).at("text") == "False");
}

TEST_CASE("e2b interpreter: plain-text refusals the SDK reads", "[gateway][e2b]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme");
    KeyedStack stack(keys);
    const int port = stack.port();
    const Headers headers = interpreter(create(port, acme));

    const auto check = [&](const std::string& method, const std::string& target, const std::string& body, int status,
                           const std::string& message) {
        const auto response = http_request(port, method, target, body, headers);
        INFO(method << " " << target << " " << body);
        CHECK(response.status == status);
        CHECK(response.header("content-type") == "text/plain; charset=utf-8");
        CHECK(response.body == message);
    };
    check("POST", "/execute", R"({"code":"1","context_id":"nope"})", 404, "Context nope not found");
    check("DELETE", "/contexts/nope", "", 404, "Context nope not found");
    check("POST", "/contexts/nope/restart", "", 404, "Context nope not found");
    check("POST", "/execute", R"({"code":"1","context_id":"c","language":"python"})", 400,
          "Only one of context_id or language can be provided");
    check("POST", "/execute", R"({"code":"1","language":"javascript"})", 400,
          "language \"javascript\" is not available: jaild's code interpreter runs python only");
    check("POST", "/contexts", R"({"language":"r"})", 400,
          "language \"r\" is not available: jaild's code interpreter runs python only");
    check("POST", "/execute", R"({"cod":"1"})", 400, "unknown field cod");
    const auto not_utf8 = post_json(port, "/execute", "{\"code\":\"\xff\"}", headers);
    CHECK(not_utf8.status == 400);
    CHECK(not_utf8.body.starts_with("request body is not valid JSON"));
    check("GET", "/execute", "", 405, "method not allowed; allowed: POST");
    check("GET", "/nowhere", "", 404, "no such code interpreter endpoint: /nowhere");
    const auto created = http_request(port, "POST", "/contexts", R"({"cwd":"relative"})", headers);
    CHECK(created.status == 400);

    // A sandbox that has ended: 502, as E2B's proxy says it (the SDK's TimeoutError).
    const Sandbox ended = create(port, acme);
    REQUIRE(http_request(port, "DELETE", "/sandboxes/" + ended.id, "", {{"X-API-KEY", acme}}).status == 204);
    const auto gone = http_request(port, "GET", "/contexts", "", interpreter(ended));
    INFO(gone.body);
    CHECK(gone.status == 502);
    CHECK(gone.body.starts_with("The sandbox is not running: "));
}

TEST_CASE("e2b interpreter: cells that find no default context at once all run in one", "[gateway][e2b]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme");
    KeyedStack stack(keys);
    const int port = stack.port();
    const Headers headers = interpreter(create(port, acme));
    // Each may make a default context; all but the oldest are removed by the requests that made them.
    std::vector<std::thread> clients;
    std::vector<std::string> pids(6);
    const std::string body = "{\"code\":\"import os; os.getpid()\"}";
    const std::string text_key = "\"text\":\"";
    for (std::size_t i = 0; i < pids.size(); ++i)
        clients.emplace_back([&, i] {
            const auto response = post_json(port, "/execute", body, headers);
            const std::size_t at = response.body.find(text_key);
            pids[i] = at == std::string::npos ? response.body : response.body.substr(at, 16);
        });
    for (std::thread& client : clients) client.join();
    for (const std::string& pid : pids) CHECK(pid == pids.front());
    CHECK(pids.front().starts_with(text_key));
    CHECK(http_request(port, "GET", "/contexts", "", headers).json().as_array().size() == 1);
}

TEST_CASE("e2b interpreter: contexts made, listed, restarted and removed", "[gateway][e2b]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme");
    KeyedStack stack(keys);
    const int port = stack.port();
    Headers headers = interpreter(create(port, acme));

    execute(port, headers, R"({"code":"where = 'default'"})");
    const auto made = post_json(port, "/contexts", R"({"cwd":"/tmp"})", headers);
    INFO(made.body);
    REQUIRE(made.status == 200);
    const std::string id = text(made.json().at("id"));
    CHECK(made.json().at("language") == "python");
    CHECK(made.json().at("cwd") == "/tmp");
    const auto listed = http_request(port, "GET", "/contexts", "", headers);
    REQUIRE(listed.status == 200);
    REQUIRE(listed.json().as_array().size() == 2);
    CHECK(listed.json().at(1) == made.json());

    const std::string in_context =
        R"x({"code":"import os; os.getcwd(), globals().get('where')","context_id":")x" + id + "\"}";
    CHECK(of_type(execute(port, headers, in_context), "result").at(0).at("text") == "('/tmp', None)");
    CHECK(of_type(execute(port, headers, R"({"code":"where"})"), "result").at(0).at("text") == "default");
    execute(port, headers, R"({"code":"y = 5","context_id":")" + id + "\"}");
    const auto restarted = http_request(port, "POST", "/contexts/" + id + "/restart", "", headers);
    CHECK(restarted.status == 200);
    CHECK(restarted.json().is_null());
    const auto gone = of_type(execute(port, headers, R"({"code":"y","context_id":")" + id + "\"}"), "error");
    REQUIRE(gone.size() == 1);
    CHECK(gone[0].at("name") == "NameError");
    const auto removed = http_request(port, "DELETE", "/contexts/" + id, "", headers);
    CHECK(removed.status == 200);
    CHECK(http_request(port, "GET", "/contexts", "", headers).json().as_array().size() == 1);
    CHECK(post_json(port, "/execute", R"({"code":"1","context_id":")" + id + "\"}", headers).status == 404);
}

TEST_CASE("e2b interpreter: keepalives while a cell is silent, and a client that leaves interrupts it",
          "[gateway][e2b]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme");
    KeyedStack stack(keys);
    const int port = stack.port();
    Headers headers = interpreter(create(port, acme));
    headers["Keepalive-Ping-Interval"] = "1";

    auto lines = execute(port, headers, R"({"code":"import time; time.sleep(2.5); 'done'"})");
    CHECK(of_type(lines, "keepalive").size() >= 2);
    CHECK(of_type(lines, "result").at(0).at("text") == "done");

    // A client that goes away mid-cell: the cell is interrupted (KeyboardInterrupt), its env_vars put back,
    // and the next cell runs at once rather than after the 60 s sleep.
    const std::string body = R"({"code":"import time; marker = 'started'; time.sleep(60); marker = 'finished'",)"
                             R"("env_vars":{"LEFT":"1"}})";
    RawConnection client(port);
    REQUIRE(client.connected());
    std::string request = "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    REQUIRE(client.send(request));
    bool closed = false;
    const std::string started = client.receive_all(std::chrono::milliseconds(1500), closed);
    CHECK(started.starts_with("HTTP/1.1 200"));
    CHECK_FALSE(closed);
    client.close();
    const auto before = std::chrono::steady_clock::now();
    lines = execute(port, headers, R"({"code":"import os; marker, 'LEFT' in os.environ"})");
    CHECK(std::chrono::steady_clock::now() - before < std::chrono::seconds(20));
    CHECK(of_type(lines, "result").at(0).at("text") == "('started', False)");
}
