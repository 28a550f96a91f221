// X-Jaild-Node: the gateway names jaild's [node] id on every answer (docs/scale-out.md), and session ids end in
// it, so a balancer in front of several nodes can route by the id alone.
#include <catch2/catch.hpp>
#include <optional>

#include "common/node_id.h"
#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

using namespace jaild::test;

TEST_CASE("gateway: every answer names the node, and session ids end in it", "[gateway][node]") {
    Stack stack("[node]\nid = \"gw-node\"\n");
    HttpResponse health = http_request(stack.port(), "GET", "/health");
    REQUIRE(health.status == 200);
    CHECK(health.header("x-jaild-node") == "gw-node");

    CHECK(http_request(stack.port(), "GET", "/languages").header("x-jaild-node") == "gw-node");
    HttpResponse missing = http_request(stack.port(), "GET", "/no/such/endpoint");
    CHECK(missing.status == 404);
    CHECK(missing.header("x-jaild-node") == "gw-node");
    HttpResponse bad = post_json(stack.port(), "/run", "{not json");
    CHECK(bad.status == 400);
    CHECK(bad.header("x-jaild-node") == "gw-node");
    StreamResponse streamed = post_stream(stack.port(), "/run", R"({"command": ["/bin/echo", "hi"], "stream": true})");
    CHECK(streamed.status == 200);
    CHECK(streamed.headers["x-jaild-node"] == "gw-node");

    HttpResponse created = post_json(stack.port(), "/sessions", "{}");
    REQUIRE(created.status == 201);
    const std::string id(created.json().at("session_id").as_string());
    const auto parts = jaild::parse_session_id(id);
    REQUIRE(parts);
    CHECK(parts->node == "gw-node");
    // The id routes in the URL as it is.
    HttpResponse files = http_request(stack.port(), "GET", "/sessions/" + id + "/files");
    CHECK(files.status == 200);
    CHECK(files.header("x-jaild-node") == "gw-node");
}

TEST_CASE("gateway: a jaild restarted under another node id is named from the next /health on", "[gateway][node]") {
    TempDir dir;
    const std::string socket = dir.path() + "/jaild.sock";
    std::optional<Daemon> daemon;
    daemon.emplace(Daemon::AtSocket{socket}, "[node]\nid = \"first\"\n");
    GatewayProcess gateway(socket);
    CHECK(http_request(gateway.port(), "GET", "/health").header("x-jaild-node") == "first");
    daemon.reset();
    daemon.emplace(Daemon::AtSocket{socket}, "[node]\nid = \"second\"\n");
    CHECK(http_request(gateway.port(), "GET", "/health").header("x-jaild-node") == "second");
    CHECK(http_request(gateway.port(), "GET", "/languages").header("x-jaild-node") == "second");
}
