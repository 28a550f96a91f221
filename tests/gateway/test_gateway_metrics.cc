// GET /metrics against a real jaild, parsed by the Prometheus project's own text parser (Debian's
// python3-prometheus-client), and the gateway's JSON access log.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"
#include "tests/support/skip.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
namespace json = boost::json;

namespace {

// Prints every sample as "name{label=value,...}" (labels sorted) → value, as JSON.
const char* const kParse = R"PY(
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("SKIPPED: python3-prometheus-client is not installed (scripts/bootstrap installs it)")
    sys.exit(77)
samples = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        key = s.name + "{" + ",".join("%s=%s" % kv for kv in sorted(s.labels.items())) + "}"
        samples[key] = s.value
print(json.dumps(samples))
)PY";

using Samples = std::map<std::string, double>;

// The text of a /metrics answer, parsed; an empty map (after skip()) when the parser is not installed.
Samples parse_metrics(const std::string& text) {
    TempDir dir;
    std::ofstream(dir.path() + "/parse.py") << kParse;
    std::ofstream(dir.path() + "/metrics.txt") << text;
    const std::string command = "/usr/bin/python3 " + dir.path() + "/parse.py " + dir.path() + "/metrics.txt 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe);
    std::string output;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
    const int status = ::pclose(pipe);
    INFO(output);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        skip(output.substr(output.find("SKIPPED: ") + 9));
        return {};
    }
    REQUIRE(status == 0);  // the Prometheus parser accepted the text
    Samples samples;
    const json::value parsed = json::parse(output);
    for (const auto& [key, value] : parsed.as_object()) samples[key] = value.to_number<double>();
    return samples;
}

Samples scrape(int port) {
    const HttpResponse response = http_request(port, "GET", "/metrics");
    REQUIRE(response.status == 200);
    CHECK(response.header("content-type").starts_with("text/plain; version=0.0.4"));
    return parse_metrics(response.body);
}

double at(const Samples& samples, const std::string& key) {
    const auto found = samples.find(key);
    return found == samples.end() ? 0.0 : found->second;
}

// How every sample whose name starts with `prefix` moved between two scrapes (those that did not move left out).
Samples moved(const Samples& before, const Samples& after, const std::string& prefix) {
    Samples delta;
    for (const auto& [key, value] : after)
        if (key.starts_with(prefix) && value != at(before, key)) delta[key] = value - at(before, key);
    return delta;
}

std::string show(const Samples& samples) {
    std::ostringstream out;
    for (const auto& [key, value] : samples) out << key << " " << value << "\n";
    return out.str();
}

// The access-log lines of a gateway's stderr.
std::vector<json::object> access_lines(const std::string& log) {
    std::vector<json::object> lines;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("{\"request_id\"")) continue;
        lines.push_back(json::parse(line).as_object());  // throws, failing the test, if a line is not JSON
    }
    return lines;
}

const json::object* line_of(const std::vector<json::object>& lines, const std::string& request_id) {
    for (const json::object& line : lines)
        if (line.at("request_id").as_string() == request_id) return &line;
    return nullptr;
}

}  // namespace

TEST_CASE("gateway metrics: the counters move by exactly the runs and requests made", "[gateway][metrics]") {
    Stack stack;
    const int port = stack.port();
    const Samples before = scrape(port);
    if (before.empty()) return;  // skipped
    CHECK(at(before, "jaild_up{}") == 1);

    CHECK(post_json(port, "/run", R"({"command":["/bin/echo","hi"]})").json().at("status") == "ok");
    CHECK(post_json(port, "/run", R"({"command":["/bin/sh","-c","exit 3"]})").json().at("status") == "runtime_error");
    CHECK(post_json(port, "/run", R"({"command":["/bin/sh","-c","while :; do :; done"],"time":300})")
              .json()
              .at("status") == "timeout");
    CHECK(post_json(port, "/execute", R"J({"language":"python","code":"print(1)"})J").json().at("status") == "ok");
    const HttpResponse created = post_json(port, "/sessions", "{}");
    REQUIRE(created.status == 201);
    const std::string id(created.json().at("session_id").as_string());
    const HttpResponse in_session =
        post_json(port, "/sessions/" + id + "/run", R"({"command":["/bin/sh","-c","head -c 5000 /dev/zero > f"]})");
    CHECK(in_session.json().at("status") == "ok");
    const Samples middle = scrape(port);
    CHECK(at(middle, "jaild_sessions{}") == at(before, "jaild_sessions{}") + 1);
    CHECK(at(middle, "jaild_sessions_disk_bytes{}") >= at(before, "jaild_sessions_disk_bytes{}") + 5000);
    // jailctl asks jaild the same question.
    const Jailctl stats = run_jailctl({.args = {"stats"}, .socket = stack.daemon.socket()});
    CHECK(stats.exit_code == 0);
    const std::string sessions_row =
        std::string("sessions") + std::string(13, ' ') + std::to_string(int(at(middle, "jaild_sessions{}")));
    CHECK(stats.out.find(sessions_row + "\n") != std::string::npos);
    CHECK(http_request(port, "DELETE", "/sessions/" + id).status == 200);
    CHECK(post_json(port, "/run", "{not json").status == 400);
    CHECK(http_request(port, "POST", "/run", "{}", {{"Content-Type", "text/plain"}}).status == 415);
    CHECK(http_request(port, "GET", "/no/such/thing").status == 404);
    const Samples after = scrape(port);

    const Samples runs = moved(before, after, "jaild_runs_total");
    INFO(show(runs));
    CHECK(runs == Samples{
                      {"jaild_runs_total{endpoint=/execute,language=python,status=ok}", 1},
                      {"jaild_runs_total{endpoint=/run,language=argv,status=ok}", 1},
                      {"jaild_runs_total{endpoint=/run,language=argv,status=runtime_error}", 1},
                      {"jaild_runs_total{endpoint=/run,language=argv,status=timeout}", 1},
                      {"jaild_runs_total{endpoint=/sessions/{id}/run,language=argv,status=ok}", 1},
                  });
    CHECK(at(after, "jaild_run_wall_seconds_count{language=argv}") -
              at(before, "jaild_run_wall_seconds_count{language=argv}") ==
          4);
    CHECK(at(after, "jaild_run_cpu_seconds_count{language=python}") -
              at(before, "jaild_run_cpu_seconds_count{language=python}") ==
          1);
    // The timed-out run used its 300 ms of CPU: it sits above the 0.25 s bucket.
    CHECK(at(after, "jaild_run_cpu_seconds_bucket{language=argv,le=0.25}") -
              at(before, "jaild_run_cpu_seconds_bucket{language=argv,le=0.25}") ==
          3);

    const Samples requests = moved(before, after, "jaild_http_requests_total");
    INFO(show(requests));
    CHECK(requests == Samples{
                          {"jaild_http_requests_total{code=200,route=/execute}", 1},
                          {"jaild_http_requests_total{code=200,route=/metrics}", 2},  // before and middle
                          {"jaild_http_requests_total{code=200,route=/run}", 3},
                          {"jaild_http_requests_total{code=400,route=/run}", 1},
                          {"jaild_http_requests_total{code=415,route=/run}", 1},
                          {"jaild_http_requests_total{code=201,route=/sessions}", 1},
                          {"jaild_http_requests_total{code=200,route=/sessions/{id}}", 1},
                          {"jaild_http_requests_total{code=200,route=/sessions/{id}/run}", 1},
                          {"jaild_http_requests_total{code=404,route=/{file...}}", 1},  // a static file
                      });
    const Samples rejections = moved(before, after, "jaild_rejections_total");
    INFO(show(rejections));
    CHECK(rejections == Samples{{"jaild_rejections_total{reason=validation}", 2}});
    CHECK(at(after, "jaild_jobs_started_total{}") - at(before, "jaild_jobs_started_total{}") >= 5);
    CHECK(at(after, "jaild_sessions{}") == at(before, "jaild_sessions{}"));
    CHECK(at(after, "jaild_sandboxes_in_flight{}") == 0);
    CHECK(at(after, "jaild_uids{}") > 0);
}

TEST_CASE("gateway metrics: jaild stopped is jaild_up 0 and the scrape still answers", "[gateway][metrics]") {
    Stack stack;
    const Samples up = scrape(stack.port());
    if (up.empty()) return;  // skipped
    CHECK(at(up, "jaild_up{}") == 1);
    // The test daemon keeps two warm sandboxes (each holding a pair of uids: its program's and its reaper's)
    // once nothing runs.
    Samples idle;
    CHECK(wait_until(
        [&] {
            idle = scrape(stack.port());
            return at(idle, "jaild_sandboxes_warm{}") == 2;
        },
        std::chrono::seconds(10)));
    CHECK(at(idle, "jaild_uids_in_use{}") == 4);
    CHECK(at(idle, "jaild_sandboxes_in_flight{}") == 0);
    stack.daemon.terminate();
    const Samples down = scrape(stack.port());
    CHECK(at(down, "jaild_up{}") == 0);
    CHECK(down.count("jaild_sessions{}") == 0);  // no stale numbers from jaild
    CHECK(down.count("jaild_rejections_total{reason=auth}") == 1);
}

TEST_CASE("gateway metrics: metrics_listen serves /metrics alone", "[gateway][metrics]") {
    Daemon daemon;
    const int metrics_port = free_port();
    GatewayProcess gateway(daemon.socket(), {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
    const HttpResponse metrics = http_request(metrics_port, "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(metrics.body.find("jaild_up 1") != std::string::npos);
    CHECK(http_request(metrics_port, "GET", "/health").status == 404);
    CHECK(http_request(metrics_port, "GET", "/sessions").status == 404);
    CHECK(post_json(metrics_port, "/run", R"({"command":["/bin/true"]})").status == 404);
    CHECK(http_request(metrics_port, "POST", "/metrics").status == 405);
    // The API's own listener serves the API, /metrics included.
    CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
    CHECK(http_request(gateway.port(), "GET", "/metrics").status == 200);
    CHECK(gateway.terminate() == 0);
}

TEST_CASE("gateway access log: one JSON line per request, the run's verdict, jaild logs the principal",
          "[gateway][metrics]") {
    Stack stack;
    const std::string body = R"({"command":["/bin/sh","-c","while :; do :; done"],"time":300})";
    const HttpResponse run = post_json(stack.port(), "/run", body, {{"X-Request-Id", "access-log-run"}});
    CHECK(run.json().at("status") == "timeout");
    // A request id may hold quotes and backslashes; the line stays JSON.
    const std::string odd_id = R"(odd"id\{"status":1})";
    CHECK(http_request(stack.port(), "GET", "/sessions/x", "", {{"X-Request-Id", odd_id}}).status == 404);
    CHECK(http_request(stack.port(), "GET", "/no%22such", "", {{"X-Request-Id", "access-log-404"}}).status == 404);
    CHECK(stack.gateway.terminate() == 0);

    const std::vector<json::object> lines = access_lines(stack.gateway.log());
    INFO(stack.gateway.log());
    const json::object* line = line_of(lines, "access-log-run");
    REQUIRE(line);
    CHECK(line->at("tenant").is_null());
    CHECK(line->at("remote") == "127.0.0.1");
    CHECK(line->at("method") == "POST");
    CHECK(line->at("route") == "/run");
    CHECK(line->at("status") == 200);
    CHECK(line->at("verdict") == "timeout");
    CHECK(line->at("wall_ms").to_number<double>() >= 300);
    CHECK(line->at("bytes_in").to_number<std::size_t>() == body.size());
    CHECK(line->at("bytes_out").to_number<std::size_t>() == run.body.size());
    CHECK(line->size() == 11);

    line = line_of(lines, odd_id);
    REQUIRE(line);
    CHECK(line->at("route") == "/sessions/{id}");
    CHECK(line->at("status") == 404);
    CHECK(line->at("verdict").is_null());
    line = line_of(lines, "access-log-404");
    REQUIRE(line);
    CHECK(line->at("route") == "/{file...}");  // the static files' pattern: never the raw path
    CHECK(lines.size() == 3);

    // jaild's log line for the run names who asked (the gateway's uid and the caller's principal).
    const std::string jaild_log = stack.daemon.log();
    INFO(jaild_log);
    CHECK(jaild_log.find("request access-log-run of uid:0/address:127.0.0.1 started") != std::string::npos);
    CHECK(jaild_log.find("request access-log-run of uid:0/address:127.0.0.1 ended: STATUS_TIMEOUT") !=
          std::string::npos);
}

TEST_CASE("gateway metrics: a run whose client hangs up counts as client_gone", "[gateway][metrics]") {
    Stack stack;
    const Samples before = scrape(stack.port());
    if (before.empty()) return;  // skipped
    const std::string body = R"({"command":["/bin/sleep","30"]})";
    {
        RawConnection client(stack.port());
        REQUIRE(
            client.send("POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: gone-1\r\n"
                        "Content-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body));
        REQUIRE(wait_until(
            [&] {
                const Samples now = scrape(stack.port());
                return at(now, "jaild_sandboxes_in_flight{}") == 1;
            },
            std::chrono::seconds(10)));
    }  // hangs up while the run sleeps
    const std::string gone = "jaild_runs_total{endpoint=/run,language=argv,status=client_gone}";
    Samples after;
    CHECK(wait_until(
        [&] {
            after = scrape(stack.port());
            return at(after, gone) == at(before, gone) + 1;
        },
        std::chrono::seconds(10)));
    CHECK(at(after, "jaild_run_wall_seconds_count{language=argv}") ==
          at(before, "jaild_run_wall_seconds_count{language=argv}"));  // no times: the run never reported its end
    CHECK(stack.gateway.terminate() == 0);
    const std::vector<json::object> lines = access_lines(stack.gateway.log());
    const json::object* line = line_of(lines, "gone-1");
    REQUIRE(line);
    CHECK(line->at("verdict") == "client_gone");
    CHECK(line->at("status") == 0);  // a buffered answer that was never sent
}

TEST_CASE("gateway metrics: a run's own 400 is a run, a refused request a validation rejection", "[gateway][metrics]") {
    Stack stack;
    const Samples before = scrape(stack.port());
    if (before.empty()) return;  // skipped
    // Seed 004's dialect answers 400 for a script whose main() raised: it ran.
    const HttpResponse raised = post_json(stack.port(), "/execute", R"J({"script": "def main():\n    1/0"})J");
    CHECK(raised.status == 400);
    // No main() at all: the gateway refuses it before anything runs.
    const HttpResponse refused = post_json(stack.port(), "/execute", R"J({"script": "def helper():\n    return 1"})J");
    CHECK(refused.status == 400);
    // An exchange is counted once its answer is written, which the client can see a moment before.
    Samples after;
    const std::string answered = "jaild_http_requests_total{code=400,route=/execute}";
    wait_until(
        [&] {
            after = scrape(stack.port());
            return !moved(before, after, "jaild_runs_total").empty() &&
                   !moved(before, after, "jaild_rejections_total").empty() &&
                   at(after, answered) - at(before, answered) >= 2;
        },
        std::chrono::seconds(2));
    const Samples runs = moved(before, after, "jaild_runs_total");
    INFO(show(runs));
    CHECK(runs == Samples{{"jaild_runs_total{endpoint=/execute,language=python,status=runtime_error}", 1}});
    const Samples rejections = moved(before, after, "jaild_rejections_total");
    INFO(show(rejections));
    CHECK(rejections == Samples{{"jaild_rejections_total{reason=validation}", 1}});
    CHECK(at(after, "jaild_http_requests_total{code=400,route=/execute}") -
              at(before, "jaild_http_requests_total{code=400,route=/execute}") ==
          2);
}

TEST_CASE("gateway metrics: refusals count by reason (auth, rate, quota) and the access log names them",
          "[gateway][metrics][auth]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme", {"--runs-per-minute", "1", "--max-cpu-ms", "500"});
    const int metrics_port = free_port();
    KeyedStack stack(keys, "", {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
    const int port = stack.port();
    const Samples before = scrape(metrics_port);

    Headers anonymous = {{"X-Request-Id", "no-key"}};
    CHECK(post_json(port, "/run", R"({"command":["true"]})", anonymous).status == 401);
    Headers key = bearer(acme);
    key["X-Request-Id"] = "first";
    CHECK(post_json(port, "/run", R"({"command":["true"]})", key).status == 200);
    key["X-Request-Id"] = "over-rate";
    CHECK(post_json(port, "/run", R"({"command":["true"]})", key).status == 429);
    key["X-Request-Id"] = "over-max";
    CHECK(post_json(port, "/run", R"({"command":["true"],"time":501})", key).status == 403);
    key["X-Request-Id"] = "bad-json";
    CHECK(post_json(port, "/run", "{", key).status == 400);

    // An exchange is counted once its answer is written, which the client can see a moment before.
    Samples after, delta;
    wait_until(
        [&] {
            after = scrape(metrics_port);
            delta = moved(before, after, "jaild_rejections_total");
            return delta.size() == 4;
        },
        std::chrono::seconds(2));
    INFO(show(delta));
    CHECK(delta == Samples{{"jaild_rejections_total{reason=auth}", 1},
                           {"jaild_rejections_total{reason=quota}", 1},
                           {"jaild_rejections_total{reason=rate}", 1},
                           {"jaild_rejections_total{reason=validation}", 1}});

    CHECK(stack.gateway.terminate() == 0);
    const std::vector<json::object> lines = access_lines(stack.gateway.log());
    const std::map<std::string, json::value> expected{{"no-key", "auth"},
                                                      {"first", nullptr},
                                                      {"over-rate", "rate"},
                                                      {"over-max", "quota"},
                                                      {"bad-json", "validation"}};
    for (const auto& [id, rejected] : expected) {
        const json::object* line = line_of(lines, id);
        INFO(id);
        REQUIRE(line);
        CHECK(line->at("rejected") == rejected);
    }
    CHECK(line_of(lines, "first")->at("tenant") == "acme");
    CHECK(line_of(lines, "no-key")->at("tenant").is_null());
}
