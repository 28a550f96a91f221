// gateway/quotas and gateway/quota_admission: effective limits (tenant over [tenant_defaults] over built-in),
// the token bucket of runs per minute on a clock the test moves, the concurrency slots, pruning, the RateLimit
// fields, the request maxima (403) and what jaild is told (proto Quota). Tenants come from a parsed keys file,
// as the gateway gets them; no sockets.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "gateway/options.h"
#include "gateway/quota_admission.h"
#include "gateway/quotas.h"
#include "gateway/request_parsing.h"
#include "gateway/tenant_keys.h"
#include "gateway/websocket.h"
#include "tests/support/gateway.h"

using namespace jaild::gateway;
using jaild::test::gateway_options_from;
using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand.
struct FakeClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    QuotaState::Clock clock() {
        return [this] { return now; };
    }
};

EffectiveLimits rate_only(std::uint64_t per_minute, std::uint64_t concurrent = 1000) {
    EffectiveLimits limits;
    limits.runs_per_minute = per_minute;
    limits.concurrent_runs = concurrent;
    return limits;
}

bool admitted(const std::variant<RunSlot, QuotaRefusal>& result) { return std::holds_alternative<RunSlot>(result); }

const QuotaRefusal& refusal(const std::variant<RunSlot, QuotaRefusal>& result) {
    REQUIRE(std::holds_alternative<QuotaRefusal>(result));
    return std::get<QuotaRefusal>(result);
}

std::string field(const HeaderList& headers, const std::string& name) {
    for (const auto& [key, value] : headers)
        if (key == name) return value;
    return "(absent)";
}

ParsedRequest parsed_run(const std::string& body) {
    ParseResult parsed = parse_run(body);
    REQUIRE(std::holds_alternative<ParsedRequest>(parsed));
    return std::get<ParsedRequest>(std::move(parsed));
}

}  // namespace

TEST_CASE("quotas: a tenant's override wins over [tenant_defaults], which wins over the built-in values",
          "[unit][quotas]") {
    TenantLimits defaults;
    defaults[TenantLimit::runs_per_minute] = 60;
    defaults[TenantLimit::cpu_ms] = 10'000;
    defaults[TenantLimit::sessions] = 5;

    const EffectiveLimits open = effective_limits(nullptr, defaults);
    CHECK(open.concurrent_runs == kBuiltinConcurrentRuns);
    CHECK(open.runs_per_minute == 60);
    CHECK(open.cpu_ms == 10'000u);
    CHECK(open.sessions == 5u);
    CHECK(!open.wall_ms);  // jaild's own maximum
    CHECK(!open.session_disk_kb);

    const TenantKeys keys = parse_tenant_keys(
        "[tenants.acme]\nruns_per_minute = 6\nmax_wall_ms = 2000\nmax_concurrent_runs = 2\n", "keys.toml");
    const EffectiveLimits acme = effective_limits(&keys.tenants.at("acme"), defaults);
    CHECK(acme.runs_per_minute == 6);
    CHECK(acme.concurrent_runs == 2);
    CHECK(acme.wall_ms == 2000u);
    CHECK(acme.cpu_ms == 10'000u);  // not overridden: the config's default
    CHECK(acme.sessions == 5u);

    const EffectiveLimits builtin = effective_limits(nullptr, TenantLimits{});
    CHECK(builtin.concurrent_runs == kBuiltinConcurrentRuns);
    CHECK(builtin.runs_per_minute == kBuiltinRunsPerMinute);
}

TEST_CASE("quotas: [tenant_defaults] takes the keys file's limit keys, integers of at least 1", "[unit][quotas]") {
    const GatewayOptions options = gateway_options_from(
        "[tenant_defaults]\nmax_concurrent_runs = 3\nruns_per_minute = 30\nmax_sessions = 4\n"
        "max_session_disk_kb = 1024\nmax_cpu_ms = 1000\nmax_wall_ms = 2000\nmax_memory_kb = 65536\n"
        "max_output_bytes = 4096\n");
    const EffectiveLimits limits = effective_limits(nullptr, options.tenant_defaults);
    CHECK(limits.concurrent_runs == 3);
    CHECK(limits.runs_per_minute == 30);
    CHECK(limits.sessions == 4u);
    CHECK(limits.session_disk_kb == 1024u);
    CHECK(limits.cpu_ms == 1000u);
    CHECK(limits.wall_ms == 2000u);
    CHECK(limits.memory_kb == 65536u);
    CHECK(limits.output_bytes == 4096u);

    CHECK_THROWS_WITH(gateway_options_from("[tenant_defaults]\nruns_per_minute = 0\n"),
                      Catch::Contains("tenant_defaults.runs_per_minute must be an integer of at least 1"));
    CHECK_THROWS_WITH(gateway_options_from("[tenant_defaults]\nmax_cpu_ms = \"10\"\n"),
                      Catch::Contains("tenant_defaults.max_cpu_ms must be an integer of at least 1"));
    CHECK_THROWS_WITH(gateway_options_from("[tenant_defaults]\nmax_runs = 10\n"),
                      Catch::Contains("unknown key tenant_defaults.max_runs"));
}

TEST_CASE("quotas: a bucket of N runs per minute admits a burst of exactly N, then says when the next fits",
          "[unit][quotas]") {
    FakeClock time;
    QuotaState state(time.clock());
    const EffectiveLimits limits = rate_only(5);  // one run every 12 s

    CHECK(state.rate("a", 5).remaining == 5);
    CHECK(state.rate("a", 5).reset_s == 0);
    for (std::uint64_t i = 1; i <= 5; ++i) {
        REQUIRE(admitted(state.admit("a", limits)));
        const RateView view = state.rate("a", 5);
        CHECK(view.limit == 5);
        CHECK(view.remaining == 5 - i);
        CHECK(view.reset_s == 12 * i);  // until every run's unit has drained
    }
    const QuotaRefusal refused = refusal(state.admit("a", limits));
    CHECK(refused.quota == "runs_per_minute");
    CHECK(refused.retry_after_s == 12);
    CHECK_THAT(refused.message, Catch::Contains("5 runs per minute"));

    // Another principal has its own bucket.
    CHECK(admitted(state.admit("b", limits)));

    // Just before the computed time the next run is still refused, with the seconds left rounded up.
    time.now += 11s;
    CHECK(refusal(state.admit("a", limits)).retry_after_s == 1);
    time.now += 999ms;
    CHECK(refusal(state.admit("a", limits)).retry_after_s == 1);
    CHECK(state.rate("a", 5).remaining == 0);
    time.now += 1ms;  // 12 s: one token
    CHECK(state.rate("a", 5).remaining == 1);
    REQUIRE(admitted(state.admit("a", limits)));
    CHECK(state.rate("a", 5).remaining == 0);
    CHECK(refusal(state.admit("a", limits)).retry_after_s == 12);

    // A minute later the bucket is full again, and holds no more than N.
    time.now += 10min;
    CHECK(state.rate("a", 5).remaining == 5);
    CHECK(state.rate("a", 5).reset_s == 0);
    for (int i = 0; i < 5; ++i) CHECK(admitted(state.admit("a", limits)));
    CHECK(!admitted(state.admit("a", limits)));
}

TEST_CASE("quotas: rates that do not divide a minute evenly refill exactly", "[unit][quotas]") {
    FakeClock time;
    QuotaState state(time.clock());
    const EffectiveLimits limits = rate_only(7);  // one run every 60/7 s = 8.571428... s
    for (int i = 0; i < 7; ++i) REQUIRE(admitted(state.admit("a", limits)));
    CHECK(refusal(state.admit("a", limits)).retry_after_s == 9);
    time.now += 8'571'428'571ns;  // a nanosecond short of 60/7 s
    CHECK(!admitted(state.admit("a", limits)));
    time.now += 1ns;
    CHECK(admitted(state.admit("a", limits)));
}

TEST_CASE("quotas: a principal runs at most concurrent_runs at once, a slot frees when its run ends",
          "[unit][quotas]") {
    FakeClock time;
    QuotaState state(time.clock());
    const EffectiveLimits limits = rate_only(1000, 2);
    auto first = state.admit("a", limits);
    auto second = state.admit("a", limits);
    REQUIRE(admitted(first));
    REQUIRE(admitted(second));
    const QuotaRefusal refused = refusal(state.admit("a", limits));
    CHECK(refused.quota == "max_concurrent_runs");
    CHECK(refused.retry_after_s == 1);
    CHECK(admitted(state.admit("b", limits)));  // others are not held up
    {
        RunSlot moved = std::get<RunSlot>(std::move(first));  // moving hands the slot over, it frees it once
    }
    auto third = state.admit("a", limits);
    CHECK(admitted(third));
    CHECK(!admitted(state.admit("a", limits)));
    // A refused run takes neither a slot nor a token.
    CHECK(state.rate("a", 1000).remaining == 1000 - 3);
}

TEST_CASE("quotas: principals with nothing in flight and a full bucket are forgotten", "[unit][quotas]") {
    FakeClock time;
    QuotaState state(time.clock());
    const EffectiveLimits limits = rate_only(60);
    for (int i = 0; i < 200; ++i) state.admit("client-" + std::to_string(i), limits);  // slots freed at once
    auto held = state.admit("holder", limits);
    REQUIRE(admitted(held));
    CHECK(state.principals() == 201);
    time.now += 61s;
    for (int i = 0; i < 300; ++i) state.admit("late", rate_only(1'000'000));
    CHECK(state.principals() == 2);  // "holder" has a run in flight, "late" a bucket not yet full
    CHECK(state.rate("client-7", 60).remaining == 60);
}

TEST_CASE("quotas: the RateLimit fields follow the caller's bucket", "[unit][quotas]") {
    FakeClock time;
    GatewayOptions options;
    options.quotas = std::make_shared<QuotaState>(time.clock());
    options.tenant_defaults[TenantLimit::runs_per_minute] = 600;
    Caller caller;
    caller.principal = caller.remote = "127.0.0.1";

    HeaderList fields = rate_limit_fields(options, caller);
    CHECK(field(fields, "RateLimit-Policy") == "\"runs\";q=600;w=60");
    CHECK(field(fields, "RateLimit") == "\"runs\";r=600;t=0");
    REQUIRE(admitted(options.quotas->admit(caller.principal, caller_limits(options, caller))));
    CHECK(field(rate_limit_fields(options, caller), "RateLimit") == "\"runs\";r=599;t=1");

    // A tenant's own rate.
    const TenantKeys keys = parse_tenant_keys("[tenants.acme]\nruns_per_minute = 2\n", "keys.toml");
    Caller tenant;
    tenant.tenant = tenant.principal = "acme";
    tenant.entry = &keys.tenants.at("acme");
    REQUIRE(admitted(options.quotas->admit(tenant.principal, caller_limits(options, tenant))));
    fields = rate_limit_fields(options, tenant);
    CHECK(field(fields, "RateLimit-Policy") == "\"runs\";q=2;w=60");
    CHECK(field(fields, "RateLimit") == "\"runs\";r=1;t=30");
}

TEST_CASE("quotas: a request asking past the caller's maximum is named, one asking nothing is left to jaild",
          "[unit][quotas]") {
    const TenantKeys keys = parse_tenant_keys(
        "[tenants.acme]\nmax_cpu_ms = 1000\nmax_wall_ms = 3000\nmax_memory_kb = 65536\nmax_output_bytes = 100\n",
        "keys.toml");
    const EffectiveLimits limits = effective_limits(&keys.tenants.at("acme"), TenantLimits{});

    ParsedRequest run = parsed_run(R"({"command":["true"],"time":1001})");
    auto excess = apply_maxima(run, limits);
    REQUIRE(excess);
    CHECK(excess->field == "time");
    CHECK(excess->asked == 1001);
    CHECK(excess->maximum == 1000);
    const Response answer = maximum_exceeded_response(*excess);
    CHECK(answer.result_int() == 403);
    CHECK(answer.body() == R"({"error":"time 1001 is above your maximum of 1000","field":"time","maximum":1000})"
                           "\n");

    CHECK(apply_maxima(*std::make_unique<ParsedRequest>(parsed_run(R"({"command":["true"],"mem":65537})")), limits)
              ->field == "mem");
    CHECK(apply_maxima(*std::make_unique<ParsedRequest>(parsed_run(R"({"command":["true"],"output":101})")), limits)
              ->field == "output");
    ParsedRequest at_max = parsed_run(R"({"command":["true"],"time":1000,"wall":3000,"mem":65536,"output":100})");
    CHECK(!apply_maxima(at_max, limits));
    ParsedRequest nothing = parsed_run(R"({"command":["true"]})");
    CHECK(!apply_maxima(nothing, limits));
    CHECK(nothing.message.run().limits().cpu_ms() == 0);  // jaild's default, lowered by jaild (Quota)

    // /execute names them in "limits" or at the top level; the field is the limit's own name.
    ParseResult parsed = parse_execute(R"({"language":"python","code":"1","limits":{"wall":5000}})", 50'000);
    ParsedRequest& execute = std::get<ParsedRequest>(parsed);
    CHECK(apply_maxima(execute, limits)->field == "wall");

    // The script dialect's own 30-second default is the gateway's choice, not the client's: lowered.
    parsed = parse_execute(R"({"script":"def main():\n    return 1\n"})", 50'000);
    ParsedRequest& script = std::get<ParsedRequest>(parsed);
    CHECK(!apply_maxima(script, limits));
    CHECK(script.message.execute().limits().cpu_ms() == 1000);
    CHECK(script.message.execute().limits().wall_ms() == 3000);
    CHECK(script.message.execute().limits().memory_kb() == 65536);
    parsed = parse_execute(R"({"script":"def main():\n    return 1\n","time":30000})", 50'000);
    CHECK(apply_maxima(std::get<ParsedRequest>(parsed), limits)->field == "time");
}

TEST_CASE("quotas: jaild is told the caller's sessions, their disk and the request maxima", "[unit][quotas]") {
    const TenantKeys keys = parse_tenant_keys(
        "[tenants.acme]\nmax_sessions = 3\nmax_session_disk_kb = 2048\nmax_cpu_ms = 1000\n", "keys.toml");
    jaild::v1::ClientMessage message;
    stamp_quota(message, effective_limits(&keys.tenants.at("acme"), TenantLimits{}));
    CHECK(message.quota().max_sessions() == 3);
    CHECK(message.quota().max_session_disk_kb() == 2048);
    CHECK(message.quota().max_cpu_ms() == 1000);
    CHECK(message.quota().max_wall_ms() == 0);  // jaild's own
    CHECK(message.quota().max_memory_kb() == 0);
    CHECK(message.quota().max_output_bytes() == 0);
}

TEST_CASE("quotas: an admitted run holds its slot, a refusal answers 429 naming the quota, or 403", "[unit][quotas]") {
    FakeClock time;
    GatewayOptions options;
    options.quotas = std::make_shared<QuotaState>(time.clock());
    options.tenant_defaults[TenantLimit::concurrent_runs] = 1;
    options.tenant_defaults[TenantLimit::cpu_ms] = 500;
    Caller caller;
    caller.principal = caller.remote = "10.0.0.1";
    Request request;
    const std::string id = "r1";
    struct NoResponder : Responder {
        boost::asio::awaitable<bool> send(Response) override { co_return false; }
        boost::asio::awaitable<bool> begin_chunked(std::string) override { co_return false; }
        boost::asio::awaitable<bool> chunk(std::string) override { co_return false; }
        boost::asio::awaitable<bool> end_chunked() override { co_return false; }
        boost::asio::awaitable<bool> begin_body(std::string, std::uint64_t) override { co_return false; }
        boost::asio::awaitable<bool> write_body(std::string) override { co_return false; }
        boost::asio::awaitable<std::unique_ptr<WebSocket>> accept_websocket(const Request&, std::string_view) override {
            co_return nullptr;
        }
    } responder;
    Exchange exchange{request, id, options, caller, responder, {}, nullptr};

    ParsedRequest too_much = parsed_run(R"({"command":["true"],"time":501})");
    auto result = admit_run(exchange, too_much);
    REQUIRE(std::holds_alternative<Response>(result));
    CHECK(std::get<Response>(result).result_int() == 403);

    ParsedRequest ok = parsed_run(R"({"command":["true"]})");
    auto first = admit_run(exchange, ok);
    REQUIRE(std::holds_alternative<RunSlot>(first));
    auto second = admit_run(exchange, ok);
    REQUIRE(std::holds_alternative<Response>(second));
    const Response& busy = std::get<Response>(second);
    CHECK(busy.result_int() == 429);
    CHECK(busy[http::field::retry_after] == "1");
    CHECK(busy.body() == R"({"error":"you have 1 runs in flight, the most allowed; retry when one ends","field":null,)"
                         R"("quota":"max_concurrent_runs"})"
                         "\n");
    first = Response{};  // the run is over
    CHECK(std::holds_alternative<RunSlot>(admit_run(exchange, ok)));
}
