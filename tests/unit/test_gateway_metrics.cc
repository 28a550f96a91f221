// The gateway's access-log line and its metrics text (gateway/access_log.h, gateway/metrics.h), without sockets.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "gateway/access_log.h"
#include "gateway/metrics.h"
#include "gateway/options.h"
#include "gateway/routes.h"
#include "tests/support/harness.h"

using namespace jaild::gateway;
namespace json = boost::json;

namespace {

bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("access log: one line of JSON with every field, whatever the request contained", "[unit][gateway][metrics]") {
    const std::string hostile = "/x\"y\\z\nINJECTED {\"status\":200}\r\x01";
    AccessEntry entry{.request_id = "req-1",
                      .tenant = "",
                      .remote = "127.0.0.1",
                      .method = "GET",
                      .route = "",
                      .status = 404,
                      .verdict = "",
                      .wall_ms = 3,
                      .bytes_in = 0,
                      .bytes_out = 57};
    entry.request_id = hostile;  // a request id is checked before it is logged; the line must hold anyway
    const std::string line = access_log_line(entry);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    const json::object parsed = json::parse(line).as_object();
    CHECK(parsed.at("request_id").as_string() == hostile);
    CHECK(parsed.at("tenant").is_null());
    CHECK(parsed.at("route").is_null());
    CHECK(parsed.at("verdict").is_null());
    CHECK(parsed.at("status") == 404);
    CHECK(parsed.at("remote") == "127.0.0.1");
    CHECK(parsed.at("method") == "GET");
    CHECK(parsed.at("wall_ms") == 3);
    CHECK(parsed.at("bytes_in") == 0);
    CHECK(parsed.at("bytes_out") == 57);
    CHECK(parsed.at("rejected").is_null());  // a 404 is no rejection
    CHECK(parsed.size() == 11);

    entry.request_id = "req-2";
    entry.tenant = "acme\"corp";
    entry.route = "/sessions/{id}/run";
    entry.verdict = "timeout";
    const json::object run = json::parse(access_log_line(entry)).as_object();
    CHECK(run.at("tenant") == "acme\"corp");
    CHECK(run.at("route") == "/sessions/{id}/run");
    CHECK(run.at("verdict") == "timeout");

    entry.verdict = {};
    entry.status = 429;
    entry.rejected = Reason::rate;
    CHECK(json::parse(access_log_line(entry)).at("rejected") == "rate");
    entry.rejected = std::nullopt;
    entry.status = 415;
    CHECK(json::parse(access_log_line(entry)).at("rejected") == "validation");
}

TEST_CASE("metrics: runs, requests and rejections in the text format with bounded labels", "[unit][gateway][metrics]") {
    GatewayMetrics metrics;
    metrics.count_run({"/execute", "python", "ok", 0.02, 0.015});
    metrics.count_run({"/execute", "python", "ok", 0.7, 0.5});
    metrics.count_run({"/run", "argv", "timeout", 2.0, 2.0});
    metrics.count_run({"/run", "argv", "something new", std::nullopt, std::nullopt});
    metrics.count_request("/sessions/{id}", 200);
    metrics.count_request("/sessions/{id}", 200);
    metrics.count_request("unmatched", 404);
    metrics.count_rejection(Reason::rate);

    const std::string text = metrics.serialize(nullptr);
    INFO(text);
    CHECK(has_line(text, "# TYPE jaild_runs_total counter"));
    CHECK(has_line(text, R"(jaild_runs_total{endpoint="/execute",language="python",status="ok"} 2)"));
    CHECK(has_line(text, R"(jaild_runs_total{endpoint="/run",language="argv",status="timeout"} 1)"));
    CHECK(has_line(text, R"(jaild_runs_total{endpoint="/run",language="argv",status="other"} 1)"));
    CHECK(has_line(text, R"(jaild_run_wall_seconds_bucket{language="python",le="0.025"} 1)"));
    CHECK(has_line(text, R"(jaild_run_wall_seconds_bucket{language="python",le="1"} 2)"));
    CHECK(has_line(text, R"(jaild_run_wall_seconds_count{language="python"} 2)"));
    CHECK(has_line(text, R"(jaild_run_cpu_seconds_count{language="argv"} 1)"));  // a run without times adds none
    CHECK(has_line(text, R"(jaild_http_requests_total{code="200",route="/sessions/{id}"} 2)"));
    CHECK(has_line(text, R"(jaild_http_requests_total{code="404",route="unmatched"} 1)"));
    // Every reason is there from the start, so a rate() over it has a zero to begin from.
    CHECK(has_line(text, R"(jaild_rejections_total{reason="rate"} 1)"));
    for (const char* reason : {"auth", "quota", "validation"})
        CHECK(has_line(text, std::string(R"(jaild_rejections_total{reason=")") + reason + R"("} 0)"));
    CHECK(has_line(text, "jaild_up 0"));
    CHECK(text.find("jaild_sessions") == std::string::npos);  // jaild did not answer: none of its numbers
}

TEST_CASE("metrics: jaild's stats become gauges and counters, jaild_up 1", "[unit][gateway][metrics]") {
    GatewayMetrics metrics;
    jaild::v1::Stats stats;
    stats.set_sandboxes_in_flight(3);
    stats.set_sandboxes_warm(2);
    stats.set_sessions_open(5);
    stats.set_sessions_disk_bytes(123456789);
    stats.set_uids_in_use(5);
    stats.set_uids_total(999);
    stats.set_jobs_started(40);
    stats.set_jobs_finished(37);
    stats.set_connections(4);
    const std::string text = metrics.serialize(&stats);
    INFO(text);
    CHECK(has_line(text, "jaild_up 1"));
    CHECK(has_line(text, "jaild_sandboxes_in_flight 3"));
    CHECK(has_line(text, "jaild_sandboxes_warm 2"));
    CHECK(has_line(text, "jaild_sessions 5"));
    CHECK(has_line(text, "jaild_sessions_disk_bytes 123456789"));
    CHECK(has_line(text, "jaild_uids_in_use 5"));
    CHECK(has_line(text, "jaild_uids 999"));
    CHECK(has_line(text, "# TYPE jaild_jobs_started_total counter"));
    CHECK(has_line(text, "jaild_jobs_started_total 40"));
    CHECK(has_line(text, "jaild_jobs_finished_total 37"));
}

TEST_CASE("metrics: the status label is a result status or other", "[unit][gateway][metrics]") {
    for (const char* known : {"ok", "runtime_error", "timeout", "memory_limit", "output_limit", "compile_error",
                              "internal_error", "cancelled", "client_gone"})
        CHECK(run_status_label(known) == known);
    // Every status jaild's protocol has (what the result's "status" says) is a label of its own.
    for (int value = jaild::v1::Status_MIN + 1; value <= jaild::v1::Status_MAX; ++value) {
        std::string name = jaild::v1::Status_Name(static_cast<jaild::v1::Status>(value)).substr(7);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        CHECK(run_status_label(name) == name);
    }
    CHECK(run_status_label("") == "other");
    CHECK(run_status_label("OK") == "other");
}

TEST_CASE("metrics routes: /metrics is a route of the API and the only one of a metrics listener",
          "[unit][gateway][metrics]") {
    const RouteMatch api = match_route(http::verb::get, "/metrics");
    CHECK(api.handler != nullptr);
    CHECK(api.pattern == "/metrics");
    CHECK(match_route(http::verb::get, "/sessions/abc").pattern == "/sessions/{id}");
    CHECK(match_route(http::verb::put, "/run").pattern == "/run");  // a 405 still names its route
    CHECK(match_route(http::verb::post, "/nope").pattern.empty());
    CHECK(match_route(http::verb::get, "/nope").pattern == "/{file...}");  // the static files' pattern
    CHECK(match_route(http::verb::get, "/nope", true).pattern.empty());

    CHECK(match_route(http::verb::get, "/metrics", true).handler == api.handler);
    CHECK(match_route(http::verb::get, "/metrics?x=1", true).handler == api.handler);
    CHECK(match_route(http::verb::get, "/health", true).status == 404);
    CHECK(match_route(http::verb::post, "/run", true).status == 404);
    CHECK(match_route(http::verb::post, "/metrics", true).status == 405);
}

TEST_CASE("options: metrics_listen from the config file and the metrics listener's options",
          "[unit][gateway][metrics]") {
    jaild::test::TempDir dir;
    const std::string path = dir.path() + "/gateway.toml";
    std::ofstream(path) << "[gateway]\nlisten = \"127.0.0.1:8080\"\nmetrics_listen = \"[::1]:9464\"\n";
    GatewayOptions options;
    CHECK(options.metrics_port == 0);  // none unless asked for
    load_options_file(path, options);
    CHECK(options.metrics_address == "::1");
    CHECK(options.metrics_port == 9464);
    CHECK(options.listen_port == 8080);
    CHECK_FALSE(options.metrics_only);

    const GatewayOptions metrics = metrics_listener_options(options);
    CHECK(metrics.listen_address == "::1");
    CHECK(metrics.listen_port == 9464);
    CHECK(metrics.metrics_only);

    parse_metrics_listen("10.0.0.5:9100", options);
    CHECK(options.metrics_address == "10.0.0.5");
    CHECK(options.listen_port == 8080);  // the API's address is left alone
    CHECK_THROWS_AS(parse_metrics_listen("localhost:9100", options), jaild::ConfigError);
    CHECK_THROWS_AS(parse_metrics_listen("127.0.0.1", options), jaild::ConfigError);
    std::ofstream(path) << "[gateway]\nmetrics_listen = 9464\n";
    CHECK_THROWS_AS(load_options_file(path, options), jaild::ConfigError);
}

TEST_CASE("docs/operations.md lists every metric /metrics serves", "[unit][gateway][metrics][docs]") {
    std::ifstream in(jaild::test::source_path("docs/operations.md"));
    std::stringstream doc;
    doc << in.rdbuf();
    GatewayMetrics metrics;
    metrics.count_run({"/run", "argv", "ok", 0.1, 0.1});
    metrics.count_request("/run", 200);
    const jaild::v1::Stats stats;
    std::istringstream text(metrics.serialize(&stats));
    int listed = 0;
    for (std::string line; std::getline(text, line);) {
        if (!line.starts_with("# TYPE ")) continue;
        const std::string name = line.substr(7, line.find(' ', 7) - 7);
        INFO(name);
        CHECK(doc.str().find("`" + name + "`") != std::string::npos);
        ++listed;
    }
    CHECK(listed == 21);
}
