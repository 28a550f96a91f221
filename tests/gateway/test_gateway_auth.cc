// Who calls, against a real jaild and gateway: tenants with API keys kept apart on every session route, a flood
// by one tenant against another, clients told apart by address through a trusted proxy, rotation, revocation
// and a broken keys file on SIGHUP, and the gateway's refusals to start.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "gateway/keys_file.h"
#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

Headers merged(Headers a, const Headers& b) {
    a.insert(b.begin(), b.end());
    return a;
}

std::string create_session(int port, const Headers& who) {
    const auto response = post_json(port, "/sessions", "{}", who);
    INFO(response.body);
    REQUIRE(response.status == 201);
    return std::string(response.json().at("session_id").as_string());
}

std::vector<std::string> session_ids(int port, const Headers& who) {
    const auto response = http_request(port, "GET", "/sessions", "", who);
    INFO(response.body);
    REQUIRE(response.status == 200);
    std::vector<std::string> ids;
    const json::value listing = response.json();
    for (const auto& session : listing.at("sessions").as_array())
        ids.emplace_back(session.at("session_id").as_string());
    return ids;
}

bool holds(const std::vector<std::string>& ids, const std::string& id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Every route that names a session, as {method, path after /sessions/ID, body}.
struct SessionRoute {
    const char* method;
    const char* suffix;
    const char* body;
};
const SessionRoute kSessionRoutes[] = {
    {"GET", "", ""},
    {"POST", "/env", R"({"env": {"STOLEN": "1"}})"},
    {"POST", "/cwd", R"({"cwd": "/tmp"})"},
    {"GET", "/files", ""},
    {"GET", "/files/secret.txt", ""},
    {"PUT", "/files/secret.txt", "overwritten"},
    {"PUT", "/files/planted.txt", "planted"},
    {"DELETE", "/files/secret.txt", ""},
    {"POST", "/run", R"({"command": ["/bin/cat", "secret.txt"]})"},
    {"POST", "/execute", R"j({"language": "python", "code": "print(open('secret.txt').read())"})j"},
    {"DELETE", "", ""},
};

HttpResponse on_session(int port, const std::string& id, const SessionRoute& route, const Headers& who) {
    const std::string body = route.body;
    const Headers headers =
        merged(who, {{"Content-Type", body.starts_with("{") ? "application/json" : "application/octet-stream"}});
    return http_request(port, route.method, "/sessions/" + id + route.suffix, body, headers);
}

// A key's id, as `keys list` names it.
std::string id_of(const std::string& key) { return jaild::gateway::key_id(jaild::gateway::hash_key(key)); }

// How many lines `path` has: the last one is where an appended mistake is.
std::size_t lines_of(const std::string& path) {
    std::ifstream in(path);
    return static_cast<std::size_t>(
        std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

Jailctl run_gateway(const std::vector<std::string>& args) {
    JailctlCall call;
    call.program = bin("jaild-gateway");
    call.args = args;
    call.timeout = 10s;
    return run_jailctl(call);
}

}  // namespace

TEST_CASE("gateway auth: a tenant sees only its own sessions, on every route", "[gateway][auth]") {
    TenantsFile keys;
    const Headers acme = bearer(keys.create("acme"));
    const Headers beta = api_key(keys.create("beta"));
    KeyedStack stack(keys);
    const int port = stack.port();

    const std::string id = create_session(port, acme);
    REQUIRE(http_request(port, "PUT", "/sessions/" + id + "/files/secret.txt", "acme's", acme).status == 201);
    // Seed 002: acme's user "u1" keeps a file in its named session.
    auto response = post_json(
        port, "/run", R"j({"user_id": "u1", "code": "open('notes.txt', 'w').write('acme')\nresult = None"})j", acme);
    REQUIRE(response.status == 200);
    const std::vector<std::string> acme_ids = session_ids(port, acme);
    CHECK(acme_ids.size() == 2);

    // beta lists none of them, and every route on acme's session answers 404, as for a session that does not exist.
    for (const std::string& acme_id : acme_ids) CHECK_FALSE(holds(session_ids(port, beta), acme_id));
    for (const SessionRoute& route : kSessionRoutes) {
        INFO(route.method << " /sessions/ID" << route.suffix);
        for (const std::string& acme_id : acme_ids) {
            response = on_session(port, acme_id, route, beta);
            INFO(response.body);
            CHECK(response.status == 404);
        }
    }
    // beta's own "u1" is another session: acme's notes are not in it.
    response = post_json(port, "/run",
                         R"j({"user_id": "u1", "code": "import os\nresult = os.path.exists('notes.txt')"})j", beta);
    REQUIRE(response.status == 200);
    CHECK(response.json().at("result") == false);
    CHECK(session_ids(port, beta).size() == 1);

    // acme's session is as acme left it.
    response = http_request(port, "GET", "/sessions/" + id + "/files/secret.txt", "", acme);
    CHECK(response.status == 200);
    CHECK(response.body == "acme's");
    response = http_request(port, "GET", "/sessions/" + id + "/files", "", acme);
    CHECK(response.body.find("planted") == std::string::npos);
    response = http_request(port, "GET", "/sessions/" + id, "", acme);
    CHECK(response.json().at("env").as_object().empty());
    response = post_json(port, "/run", R"j({"user_id": "u1", "code": "result = open('notes.txt').read()"})j", acme);
    CHECK(response.json().at("result") == "acme");
    // acme itself reaches every route (the last, DELETE, removes the session).
    for (const SessionRoute& route : kSessionRoutes) {
        INFO(route.method << " /sessions/ID" << route.suffix);
        response = on_session(port, id, route, acme);
        INFO(response.body);
        CHECK(response.status / 100 == 2);
    }
    CHECK_FALSE(holds(session_ids(port, acme), id));
}

TEST_CASE("gateway auth: a flood by one tenant leaves another's session creation unaffected", "[gateway][auth]") {
    TenantsFile keys;
    const Headers flood = bearer(keys.create("flood"));
    const Headers calm = bearer(keys.create("calm"));
    TempDir state;
    KeyedStack stack(keys, "[sessions]\nstate_dir = \"" + state.path() + "\"\nmax_per_principal = 5\n");
    const int port = stack.port();
    for (int i = 0; i < 5; ++i) create_session(port, flood);
    auto response = post_json(port, "/sessions", "{}", flood);
    CHECK(response.status == 429);
    CHECK(response.json().at("error").as_string().find("maximum") != json::string::npos);
    CHECK(post_json(port, "/run", R"({"user_id": "more", "code": "result = 1"})", flood).status == 429);
    // The other tenant creates and uses sessions as if nothing happened.
    const std::string mine = create_session(port, calm);
    CHECK(post_json(port, "/run", R"({"user_id": "u", "code": "result = 1"})", calm).status == 200);
    response = post_json(port, "/sessions/" + mine + "/run", R"({"command": ["/bin/echo", "fine"]})", calm);
    CHECK(response.json().at("stdout") == "fine\n");
}

TEST_CASE("gateway auth: without keys, clients behind a trusted proxy are apart by X-Forwarded-For",
          "[gateway][auth]") {
    Daemon daemon;
    TempDir dir;
    const std::string config = dir.path() + "/gateway.toml";
    std::ofstream(config) << "[gateway]\ntrusted_proxies = [\"127.0.0.0/8\"]\n";
    GatewayProcess trusting(daemon.socket(), {"--config", config});
    GatewayProcess plain(daemon.socket());
    const Headers alice = {{"X-Forwarded-For", "203.0.113.10"}};
    const Headers bob = {{"X-Forwarded-For", "203.0.113.20, 127.0.0.1"}};

    const std::string alices = create_session(trusting.port(), alice);
    CHECK(holds(session_ids(trusting.port(), alice), alices));
    CHECK_FALSE(holds(session_ids(trusting.port(), bob), alices));
    CHECK(http_request(trusting.port(), "GET", "/sessions/" + alices, "", bob).status == 404);
    CHECK(http_request(trusting.port(), "GET", "/sessions/" + alices, "", alice).status == 200);
    // The proxy itself (no header) is a third client.
    CHECK_FALSE(holds(session_ids(trusting.port(), {}), alices));
    // What a client wrote at the left of the header, before the hop an appending proxy added, is not
    // believed: alice's address there does not reach alice's sessions.
    const Headers posing = {{"X-Forwarded-For", "203.0.113.10, 198.51.100.99"}};
    CHECK(http_request(trusting.port(), "GET", "/sessions/" + alices, "", posing).status == 404);
    CHECK_FALSE(holds(session_ids(trusting.port(), posing), alices));
    // A header from a trusted proxy whose nearest hop is not an address is refused.
    auto response = http_request(trusting.port(), "GET", "/sessions", "", {{"X-Forwarded-For", "1.2.3.4, evil"}});
    CHECK(response.status == 400);
    CHECK(response.json().at("field") == "X-Forwarded-For");

    // A gateway that trusts no proxy ignores the header: both clients are 127.0.0.1 there.
    const std::string bobs = create_session(plain.port(), bob);
    CHECK(holds(session_ids(plain.port(), alice), bobs));
    CHECK(http_request(plain.port(), "GET", "/sessions/" + bobs, "", alice).status == 200);
    CHECK(http_request(plain.port(), "GET", "/sessions", "", {{"X-Forwarded-For", "evil"}}).status == 200);
}

TEST_CASE("gateway auth: a rotated key keeps the sessions, a revoked one is refused after SIGHUP", "[gateway][auth]") {
    TenantsFile keys;
    const std::string first = keys.create("acme");
    KeyedStack stack(keys);
    const int port = stack.port();
    const std::string id = create_session(port, bearer(first));

    const std::string second = keys.rotate("acme");
    REQUIRE(::kill(stack.gateway.pid(), SIGHUP) == 0);
    // The new key reaches the same session, as soon as the reload is in.
    REQUIRE(wait_until([&] { return http_request(port, "GET", "/sessions/" + id, "", api_key(second)).status == 200; },
                       5s));
    CHECK(holds(session_ids(port, bearer(first)), id));  // the old key still works until revoked

    // A connection open across the reload stays open (keep-alive is not dropped): a raw one, used after.
    RawConnection open(port);
    REQUIRE(open.connected());
    keys.revoke("acme", id_of(first));
    REQUIRE(::kill(stack.gateway.pid(), SIGHUP) == 0);
    HttpResponse refused;
    REQUIRE(wait_until(
        [&] { return (refused = http_request(port, "GET", "/sessions", "", bearer(first))).status == 401; }, 5s));
    CHECK(refused.json().at("error").as_string().find("revoked") != json::string::npos);
    CHECK(refused.json().at("error").as_string().find(id_of(first)) != json::string::npos);
    CHECK(refused.header("www-authenticate") == "Bearer realm=\"jaild\", error=\"invalid_token\"");
    CHECK(holds(session_ids(port, bearer(second)), id));
    REQUIRE(open.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    bool closed = false;
    CHECK(open.receive_all(5s, closed).starts_with("HTTP/1.1 200"));

    // A broken file on SIGHUP: logged with its line, the keys in force stay.
    std::ofstream(keys.path(), std::ios::app) << "[tenants.broken\n";
    const std::string bad_line = keys.path() + ":" + std::to_string(lines_of(keys.path()));
    REQUIRE(::kill(stack.gateway.pid(), SIGHUP) == 0);
    REQUIRE(wait_until([&] { return stack.gateway.log().find("not reloaded") != std::string::npos; }, 5s));
    const std::string log = stack.gateway.log();
    CHECK(log.find(bad_line) != std::string::npos);
    CHECK(holds(session_ids(port, bearer(second)), id));
    CHECK(http_request(port, "GET", "/sessions", "", bearer(first)).status == 401);
    CHECK(log.find(second) == std::string::npos);  // keys never reach the log
    CHECK(log.find(first) == std::string::npos);
}

TEST_CASE("gateway auth: a keys file that cannot be used stops the gateway, naming the line", "[gateway][auth]") {
    Daemon daemon;
    TenantsFile keys;
    keys.create("acme");
    std::ofstream(keys.path(), std::ios::app) << "\n[tenants.beta]\nmax_sessions = \"many\"\n";
    const std::string bad_line = keys.path() + ":" + std::to_string(lines_of(keys.path()));
    const std::vector<std::string> base = {"--listen",       "127.0.0.1:" + std::to_string(free_port()),
                                           "--jaild-socket", daemon.socket(),
                                           "--keys-file",    keys.path()};
    Jailctl ran = run_gateway(base);
    CHECK(ran.exit_code == 1);
    CHECK(ran.err.find(bad_line) != std::string::npos);
    CHECK(ran.err.find("max_sessions") != std::string::npos);

    // Readable by others: refused too.
    TenantsFile open_keys;
    open_keys.create("acme");
    ::chmod(open_keys.path().c_str(), 0644);
    std::vector<std::string> args = base;
    args.back() = open_keys.path();
    ran = run_gateway(args);
    CHECK(ran.exit_code == 1);
    CHECK(ran.err.find(open_keys.path()) != std::string::npos);
    // Missing.
    args.back() = open_keys.path() + ".missing";
    CHECK(run_gateway(args).exit_code == 1);
}

TEST_CASE("gateway auth: a non-loopback address needs keys or --insecure-no-auth", "[gateway][auth]") {
    Daemon daemon;
    const std::vector<std::string> base = {"--listen", "0.0.0.0:" + std::to_string(free_port()), "--jaild-socket",
                                           daemon.socket()};
    Jailctl ran = run_gateway(base);
    CHECK(ran.exit_code == 1);
    CHECK(ran.err.find("--keys-file") != std::string::npos);
    CHECK(ran.err.find("--insecure-no-auth") != std::string::npos);
    // --allow-remote is gone, with the same advice.
    std::vector<std::string> args = base;
    args.push_back("--allow-remote");
    ran = run_gateway(args);
    CHECK(ran.exit_code == 1);
    CHECK(ran.err.find("--insecure-no-auth") != std::string::npos);
    TempDir dir;
    const std::string config = dir.path() + "/gateway.toml";
    std::ofstream(config) << "[gateway]\nallow_remote = true\n";
    args = base;
    args.insert(args.end(), {"--config", config});
    ran = run_gateway(args);
    CHECK(ran.exit_code == 1);
    CHECK(ran.err.find("insecure_no_auth") != std::string::npos);

    // With --insecure-no-auth, or with keys, it starts and serves.
    GatewayProcess open(daemon.socket(), {"--listen", "0.0.0.0:" + std::to_string(free_port()), "--insecure-no-auth"});
    CHECK(http_request(open.port(), "GET", "/health").status == 200);
    TenantsFile keys;
    const std::string key = keys.create("acme");
    GatewayProcess keyed(daemon.socket(),
                         {"--listen", "0.0.0.0:" + std::to_string(free_port()), "--keys-file", keys.path()});
    CHECK(http_request(keyed.port(), "GET", "/languages").status == 401);
    CHECK(http_request(keyed.port(), "GET", "/languages", "", bearer(key)).status == 200);
}
