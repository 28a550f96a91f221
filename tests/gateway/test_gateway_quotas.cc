// Quotas and rate limits per caller through the real gateway and jaild, from a config's [tenant_defaults]: a
// burst of runs and its RateLimit fields, concurrent runs past the limit, a limit past the maximum (403) and
// one left unset (lowered by jaild), sessions per caller and their disk together; a tenant's own overrides from
// the keys file, each tenant with its own bucket.
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <thread>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// jaild and a gateway whose config has `defaults` as its [tenant_defaults].
struct QuotaStack {
    explicit QuotaStack(const std::string& defaults) : gateway(daemon.socket(), {"--config", config(defaults)}) {}
    std::string config(const std::string& defaults) {
        const std::string path = dir.path() + "/gateway.toml";
        std::ofstream(path) << "[tenant_defaults]\n" << defaults << "\n";
        return path;
    }
    TempDir dir;
    Daemon daemon;
    GatewayProcess gateway;
    int port() const { return gateway.port(); }
};

std::string text(const json::value& value) { return std::string(value.as_string()); }

std::string quota_of(const HttpResponse& response) {
    INFO(response.body);
    return text(response.json().at("quota"));
}

}  // namespace

TEST_CASE("gateway quotas: a burst of runs follows runs_per_minute, and the RateLimit fields count it down",
          "[gateway][quotas]") {
    QuotaStack stack("runs_per_minute = 3");  // a run every 20 s
    const int port = stack.port();

    HttpResponse response = http_request(port, "GET", "/health");
    CHECK(response.header("ratelimit-policy") == "\"runs\";q=3;w=60");
    CHECK(response.header("ratelimit") == "\"runs\";r=3;t=0");

    const auto started = std::chrono::steady_clock::now();
    for (int i = 1; i <= 3; ++i) {
        response = post_json(port, "/run", R"({"command":["true"]})");
        INFO(response.body);
        REQUIRE(response.status == 200);
        CHECK(response.header("ratelimit-policy") == "\"runs\";q=3;w=60");
        // r exactly; t is until the bucket is full again: 20 s per run taken, less the time gone since.
        const std::string expected = "\"runs\";r=" + std::to_string(3 - i) + ";t=";
        CHECK(response.header("ratelimit").starts_with(expected));
        const int t = std::stoi(response.header("ratelimit").substr(expected.size()));
        CHECK(t <= 20 * i);
        CHECK(t >= 20 * i - 1);
    }
    response = post_json(port, "/run", R"({"command":["true"]})");
    REQUIRE(response.status == 429);
    CHECK(quota_of(response) == "runs_per_minute");
    CHECK(response.json().at("field").is_null());
    const auto waited = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
    const int retry = std::stoi(response.header("retry-after"));
    CHECK(retry <= 20);
    CHECK(retry >= 20 - waited.count() - 1);
    CHECK(response.header("ratelimit").starts_with("\"runs\";r=0;t="));

    // Every answer carries the fields: a 404, a 400, a session request (which takes no token).
    CHECK(http_request(port, "GET", "/nowhere").header("ratelimit").starts_with("\"runs\";r=0;"));
    CHECK(post_json(port, "/run", R"({"command":[]})").header("ratelimit").starts_with("\"runs\";r=0;"));
    CHECK(post_json(port, "/sessions", "{}").header("ratelimit-policy") == "\"runs\";q=3;w=60");
}

TEST_CASE("gateway quotas: runs past max_concurrent_runs get 429 while the others run", "[gateway][quotas]") {
    QuotaStack stack("max_concurrent_runs = 2");
    const int port = stack.port();
    auto sleeper = [port] { return post_json(port, "/run", R"({"command":["sleep","2"],"wall":10000})"); };
    std::future<HttpResponse> first = std::async(std::launch::async, sleeper);
    std::future<HttpResponse> second = std::async(std::launch::async, sleeper);
    std::this_thread::sleep_for(700ms);  // both admitted and running

    HttpResponse refused = post_json(port, "/run", R"({"command":["true"]})");
    REQUIRE(refused.status == 429);
    CHECK(quota_of(refused) == "max_concurrent_runs");
    CHECK(refused.header("retry-after") == "1");

    for (auto* run : {&first, &second}) {
        const HttpResponse done = run->get();
        INFO(done.body);
        CHECK(done.status == 200);
        CHECK(text(done.json().at("status")) == "ok");
    }
    CHECK(post_json(port, "/run", R"({"command":["true"]})").status == 200);  // the slots are free again
    const StreamResponse streamed = post_stream(port, "/run", R"({"command":["echo","hi"],"stream":true})");
    CHECK(streamed.status == 200);
    CHECK(streamed.headers.count("ratelimit-policy") == 1);  // a streamed answer carries the fields too
    CHECK(streamed.headers.count("ratelimit") == 1);

    // A client that hangs up frees its slot too: its run is cancelled.
    const std::string body = R"({"command":["sleep","30"],"wall":60000})";
    const std::string request =
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    {
        RawConnection one(port), two(port);
        for (RawConnection* hasty : {&one, &two}) {
            REQUIRE(hasty->send(request));
            bool closed = false;
            CHECK(hasty->receive_all(300ms, closed).empty());  // admitted and running
            CHECK(!closed);
        }
        CHECK(post_json(port, "/run", R"({"command":["true"]})").status == 429);
    }  // both hang up here
    int status = 0;
    for (int attempt = 0; attempt < 30 && status != 200; ++attempt) {
        std::this_thread::sleep_for(100ms);
        status = post_json(port, "/run", R"({"command":["true"]})").status;
    }
    CHECK(status == 200);
}

TEST_CASE("gateway quotas: a limit past the caller's maximum is 403, a request naming none gets the maximum",
          "[gateway][quotas]") {
    QuotaStack stack("max_cpu_ms = 1000\nmax_memory_kb = 65536");
    const int port = stack.port();

    HttpResponse response = post_json(port, "/run", R"({"command":["true"],"time":1500})");
    INFO(response.body);
    REQUIRE(response.status == 403);
    CHECK(json::serialize(response.json()) ==
          R"({"error":"time 1500 is above your maximum of 1000","field":"time","maximum":1000})");
    CHECK(response.header("ratelimit-policy") == "\"runs\";q=6000;w=60");  // the built-in rate
    response = post_json(port, "/execute", R"({"language":"sh","code":"true","limits":{"mem":70000}})");
    REQUIRE(response.status == 403);
    CHECK(response.json().at("field") == "mem");
    CHECK(response.json().at("maximum") == 65536);

    // jaild's default CPU time is 5 s; this caller's runs stop at its 1 s.
    response = post_json(port, "/run", R"({"command":["sh","-c","while :; do :; done"]})");
    INFO(response.body);
    REQUIRE(response.status == 200);
    CHECK(text(response.json().at("status")) == "timeout");
    CHECK(response.json().at("cpu_ms").to_number<std::int64_t>() < 2000);
    response = post_json(port, "/run", R"({"command":["true"],"time":1000})");
    CHECK(response.status == 200);
}

TEST_CASE("gateway quotas: max_sessions per caller from [tenant_defaults]", "[gateway][quotas]") {
    QuotaStack stack("max_sessions = 2");
    const int port = stack.port();
    std::string first;
    for (int i = 0; i < 2; ++i) {
        const HttpResponse created = post_json(port, "/sessions", "{}");
        REQUIRE(created.status == 201);
        first = text(created.json().at("session_id"));
    }
    HttpResponse refused = post_json(port, "/sessions", "{}");
    INFO(refused.body);
    REQUIRE(refused.status == 429);
    CHECK(text(refused.json().at("error")) == "you hold the maximum of 2 sessions; delete one first");
    CHECK(!refused.header("retry-after").empty());
    REQUIRE(http_request(port, "DELETE", "/sessions/" + first).status == 200);
    CHECK(post_json(port, "/sessions", "{}").status == 201);
}

TEST_CASE("gateway quotas: a caller's sessions share max_session_disk_kb", "[gateway][quotas]") {
    QuotaStack stack("max_session_disk_kb = 16");
    const int port = stack.port();
    std::string ids[2];
    for (auto& id : ids) {
        const HttpResponse created = post_json(port, "/sessions", "{}");
        REQUIRE(created.status == 201);
        id = text(created.json().at("session_id"));
    }
    const std::string a = "/sessions/" + ids[0], b = "/sessions/" + ids[1];
    REQUIRE(http_request(port, "PUT", a + "/files/big.bin", std::string(12'000, 'x')).status == 201);
    HttpResponse refused = http_request(port, "PUT", b + "/files/more.bin", std::string(5'000, 'y'));
    INFO(refused.body);
    REQUIRE(refused.status == 507);
    CHECK_THAT(text(refused.json().at("error")), Catch::Contains("total disk quota of 16384 bytes"));
    REQUIRE(http_request(port, "PUT", b + "/files/more.bin", std::string(4'000, 'y')).status == 201);
    const HttpResponse download = http_request(port, "GET", b + "/files/more.bin");
    CHECK(download.body.size() == 4'000);
    CHECK(download.header("ratelimit") == "\"runs\";r=6000;t=0");  // a sized answer too; no run taken yet

    // A run in b cannot write past what is left of the total either (a page at most: the tmpfs rounds up).
    HttpResponse run =
        post_json(port, b + "/run", R"({"command":["sh","-c","head -c 20000 /dev/zero > /workspace/fill"]})");
    INFO(run.body);
    REQUIRE(run.status == 200);
    CHECK(run.json().at("exit_code") != 0);
    CHECK_THAT(text(run.json().at("stderr")), Catch::Contains("No space left"));

    // With the total used up no further session is made.
    refused = post_json(port, "/sessions", "{}");
    REQUIRE(refused.status == 429);
    CHECK_THAT(text(refused.json().at("error")), Catch::Contains("total disk quota of 16 KiB"));
}

TEST_CASE("gateway quotas: a tenant's overrides from the keys file apply to it alone, each tenant its own bucket",
          "[gateway][quotas][auth]") {
    TenantsFile keys;
    const std::string acme = keys.create("acme", {"--runs-per-minute", "1", "--max-cpu-ms", "500"});
    const std::string beta = keys.create("beta");
    TempDir dir;
    const std::string config = dir.path() + "/gateway.toml";
    std::ofstream(config) << "[tenant_defaults]\nruns_per_minute = 4\n";
    KeyedStack stack(keys, "", {"--config", config});
    const int port = stack.port();

    HttpResponse response = post_json(port, "/run", R"({"command":["true"]})", bearer(acme));
    REQUIRE(response.status == 200);
    CHECK(response.header("ratelimit-policy") == "\"runs\";q=1;w=60");
    response = post_json(port, "/run", R"({"command":["true"]})", bearer(acme));
    CHECK(response.status == 429);
    CHECK(quota_of(response) == "runs_per_minute");
    // acme's maximum is its own; beta keeps the service's.
    response = post_json(port, "/run", R"({"command":["true"],"time":600})", api_key(acme));
    CHECK(response.status == 403);
    for (int i = 0; i < 4; ++i) {
        response = post_json(port, "/run", R"({"command":["true"],"time":600})", api_key(beta));
        INFO(response.body);
        CHECK(response.status == 200);
        CHECK(response.header("ratelimit-policy") == "\"runs\";q=4;w=60");
    }
    CHECK(post_json(port, "/run", R"({"command":["true"]})", api_key(beta)).status == 429);
}
