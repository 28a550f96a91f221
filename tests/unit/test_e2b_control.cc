// gateway/e2b/control_codec: E2B's control-plane bodies (create, connect, timeout), answers (Sandbox,
// SandboxDetail), list paging and the {"code", "message"} error, as e2b 2.51.0 sends and reads them. Pure.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "gateway/e2b/control_codec.h"

namespace json = boost::json;
using namespace jaild::gateway::e2b;

namespace {

template <class T>
T ok(const std::variant<T, E2bError>& result) {
    if (auto* error = std::get_if<E2bError>(&result)) FAIL("unexpected error: " << error->message);
    return std::get<T>(result);
}

template <class T>
E2bError bad(const std::variant<T, E2bError>& result) {
    if (std::holds_alternative<T>(result)) FAIL("expected an error");
    return std::get<E2bError>(result);
}

SandboxView view(std::string id, std::int64_t started, std::map<std::string, std::string> metadata = {}) {
    SandboxView v;
    v.sandbox_id = std::move(id);
    v.started_unix_ms = started;
    v.metadata = std::move(metadata);
    return v;
}

std::vector<std::string> ids(const Page& page) {
    std::vector<std::string> out;
    for (const SandboxView& v : page.items) out.push_back(v.sandbox_id);
    return out;
}

}  // namespace

TEST_CASE("e2b control: create bodies as the SDKs send them", "[unit][e2b]") {
    // Captured from e2b 2.51.0 and @e2b/code-interpreter 2.8.0.
    const NewSandbox full =
        ok(parse_new_sandbox(R"({"templateID":"base","metadata":{"k":"v"},"envVars":{"FOO":"bar"},"timeout":120})"));
    CHECK(full.template_id == "base");
    CHECK(full.timeout_s == 120);
    CHECK(full.metadata == std::map<std::string, std::string>{{"k", "v"}});
    CHECK(full.env_vars == std::map<std::string, std::string>{{"FOO", "bar"}});
    const NewSandbox ci = ok(parse_new_sandbox(R"({"templateID":"code-interpreter-v1"})"));
    CHECK(ci.template_id == "code-interpreter-v1");
    CHECK(ci.timeout_s == kDefaultTimeoutS);
    CHECK(ok(parse_new_sandbox("")).template_id == "base");
    // Options that ask for nothing jaild lacks are fine.
    CHECK_NOTHROW(ok(parse_new_sandbox(
        R"({"allow_internet_access":false,"autoPause":false,"autoResume":{"enabled":false},"secure":true})")));
}

TEST_CASE("e2b control: a sandbox's template and metadata as its session's labels, and back", "[unit][e2b]") {
    const NewSandbox sandbox =
        ok(parse_new_sandbox(R"({"templateID":"code-interpreter-v1","metadata":{"team":"blue","e2b.x":"y"}})"));
    const std::map<std::string, std::string> labels = sandbox_labels(sandbox);
    CHECK(labels == std::map<std::string, std::string>{
                        {"e2b.meta.e2b.x", "y"}, {"e2b.meta.team", "blue"}, {"e2b.template", "code-interpreter-v1"}});
    SandboxView view;
    std::map<std::string, std::string> stored = labels;
    stored["someone.else"] = "ignored";  // labels set through jaild's own API are not metadata
    read_sandbox_labels(stored, view);
    CHECK(view.template_id == "code-interpreter-v1");
    CHECK(view.metadata == std::map<std::string, std::string>{{"e2b.x", "y"}, {"team", "blue"}});
}

TEST_CASE("e2b control: what a container cannot do is refused, naming it", "[unit][e2b]") {
    CHECK(bad(parse_new_sandbox(R"({"templateID":"my-template"})")).message ==
          R"(template "my-template" is not available in jaild: use "base" or "code-interpreter-v1")");
    CHECK(bad(parse_new_sandbox(R"({"allow_internet_access":true})")).message.find("no network") != std::string::npos);
    CHECK(bad(parse_new_sandbox(R"({"autoPause":true})")).message.find("pausing") != std::string::npos);
    CHECK(bad(parse_new_sandbox(R"({"autoResume":{"enabled":true}})")).message.find("pausing") != std::string::npos);
    CHECK(bad(parse_new_sandbox(R"({"network":{"denyOut":["0.0.0.0/0"]}})")).message.find("network") !=
          std::string::npos);
    CHECK(bad(parse_new_sandbox(R"({"mcp":{}})")).message.find("MCP") != std::string::npos);
    CHECK(bad(parse_new_sandbox(R"({"volumeMounts":[{"name":"v","path":"/data"}]})")).message.find("volumes") !=
          std::string::npos);
    CHECK(bad(parse_new_sandbox(R"({"newOption":1})")).message ==
          R"(unknown field "newOption" in the sandbox's options)");
    CHECK(bad(parse_new_sandbox(R"({"timeout":0})")).message == "timeout must be 1 to 86400 seconds");
    CHECK(bad(parse_new_sandbox(R"({"timeout":86401})")).status == 400);
    CHECK(bad(parse_new_sandbox(R"({"timeout":1.5})")).message.find("whole number") != std::string::npos);
    CHECK(bad(parse_new_sandbox(R"({"metadata":{"k":1}})")).message == "metadata.k must be a string");
    CHECK(bad(parse_new_sandbox(R"({"envVars":[]})")).message == "envVars must be an object of strings");
    CHECK(bad(parse_new_sandbox(R"({"metadata":{"":"v"}})")).message ==
          R"(metadata key "" must be 1 to 119 printable ASCII characters)");
    const std::string long_value = R"({"metadata":{"k":")" + std::string(1025, 'v') + R"("}})";
    CHECK(bad(parse_new_sandbox(long_value)).message == "metadata.k is longer than 1024 bytes");
    CHECK(bad(parse_new_sandbox("[1]")).message == "request body must be a JSON object");
    CHECK(bad(parse_new_sandbox("{")).message.find("not valid JSON") != std::string::npos);
}

TEST_CASE("e2b control: connect and timeout bodies", "[unit][e2b]") {
    CHECK(ok(parse_connect("{}")) == std::nullopt);
    CHECK(ok(parse_connect("")) == std::nullopt);
    CHECK(ok(parse_connect(R"({"timeout":60})")) == 60u);
    CHECK(ok(parse_connect(R"({"timeout":60,"memory":false})")) == 60u);
    CHECK(bad(parse_connect(R"({"x":1})")).message == R"(unknown field "x" in connect)");
    CHECK(ok(parse_set_timeout(R"({"timeout":60})")) == 60u);
    CHECK(bad(parse_set_timeout("{}")).message == "timeout is required (seconds)");
    CHECK(bad(parse_set_timeout(R"({"timeout":-1})")).status == 400);
}

TEST_CASE("e2b control: the answers carry every field the SDK reads", "[unit][e2b]") {
    SandboxView v = view("sbx1", 1'796'454'000'000, {{"k", "v"}});
    v.end_unix_ms = 1'796'454'300'000;
    v.envd_access_token = "envdtok";
    v.traffic_access_token = "traftok";
    v.memory_mb = 1024;
    v.disk_mb = 100;
    CHECK(sandbox_json(v) == json::parse(R"({"sandboxID":"sbx1","templateID":"base","clientID":"jaild",
        "envdVersion":"0.5.7","envdAccessToken":"envdtok","trafficAccessToken":"traftok","domain":null})"));
    const json::object detail = sandbox_detail_json(v, true);
    CHECK(detail.at("startedAt") == "2026-12-05T07:00:00Z");
    CHECK(detail.at("endAt") == "2026-12-05T07:05:00Z");
    CHECK(detail.at("state") == "running");
    CHECK(detail.at("metadata") == json::parse(R"({"k":"v"})"));
    CHECK(detail.at("memoryMB") == 1024);
    CHECK(detail.at("diskSizeMB") == 100);
    CHECK(detail.at("cpuCount") == 1);
    CHECK(detail.at("envdVersion") == "0.5.7");
    CHECK(detail.at("envdAccessToken") == "envdtok");
    CHECK_FALSE(sandbox_detail_json(v, false).contains("envdAccessToken"));
    CHECK(json::parse(error_body({404, "Sandbox \"x\" doesn't exist or you don't have access to it"})) ==
          json::parse(R"({"code":404,"message":"Sandbox \"x\" doesn't exist or you don't have access to it"})"));
}

TEST_CASE("e2b control: listing pages by X-Next-Token and filters by metadata", "[unit][e2b]") {
    std::vector<SandboxView> all{view("c", 30), view("a", 10, {{"team", "blue"}}), view("b", 20),
                                 view("d", 30, {{"team", "blue"}})};
    ListQuery query = ok(parse_list_query("/v2/sandboxes?limit=2"));
    Page first = page_sandboxes(all, query);
    CHECK(ids(first) == std::vector<std::string>{"a", "b"});
    CHECK(first.next == "20.b");
    query = ok(parse_list_query("/v2/sandboxes?limit=2&nextToken=" + first.next));
    Page second = page_sandboxes(all, query);
    CHECK(ids(second) == std::vector<std::string>{"c", "d"});
    CHECK(second.next.empty());
    // The sandbox the token names is gone: the next page still starts after it.
    std::erase_if(all, [](const SandboxView& v) { return v.sandbox_id == "b"; });
    CHECK(ids(page_sandboxes(all, query)) == std::vector<std::string>{"c", "d"});

    // The SDK's metadata filter: "team=blue" URL-encoded once more.
    query = ok(parse_list_query("/v2/sandboxes?metadata=team%3Dblue&state=running%2Cpaused"));
    CHECK(ids(page_sandboxes(all, query)) == std::vector<std::string>{"a", "d"});
    CHECK(ok(parse_list_query("/v2/sandboxes")).limit == 100);
    CHECK(page_sandboxes(all, ok(parse_list_query("/v2/sandboxes?state=paused"))).items.empty());
    CHECK(bad(parse_list_query("/v2/sandboxes?limit=0")).message == "limit must be 1 to 100");
    CHECK(bad(parse_list_query("/v2/sandboxes?limit=101")).status == 400);
    CHECK(bad(parse_list_query("/v2/sandboxes?nextToken=zzz")).message.find("X-Next-Token") != std::string::npos);
    CHECK(bad(parse_list_query("/v2/sandboxes?bogus=1")).message == R"(unknown query parameter "bogus")");
}
