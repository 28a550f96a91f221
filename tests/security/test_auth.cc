// Hostile callers of a gateway that requires API keys: no key, a wrong key, another tenant's key on every
// route, two keys in one request, and many wrong keys in a row. Each gets the documented answer, and the first
// tenant's sessions stay exactly as it left them.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "tests/support/tenants.h"

namespace jaild::test {

using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct RouteCase {
    const char* method;
    const char* target;  // "ID" is replaced by the victim's session id
    const char* body;
};

// Every route of the API but /health (docs/api.md), on the victim's session where it names one.
const RouteCase kRoutes[] = {
    {"GET", "/languages", ""},
    {"POST", "/run", R"({"command": ["/bin/echo", "hi"]})"},
    {"POST", "/run", R"j({"user_id": "victim-user", "code": "result = open('notes.txt').read()"})j"},
    {"POST", "/execute", R"j({"language": "python", "code": "print(1)"})j"},
    {"POST", "/sessions", R"({"name": "victims"})"},
    {"GET", "/sessions", ""},
    {"GET", "/sessions/ID", ""},
    {"POST", "/sessions/ID/run", R"({"command": ["/bin/cat", "secret.txt"]})"},
    {"POST", "/sessions/ID/execute", R"j({"language": "python", "code": "print(open('secret.txt').read())"})j"},
    {"POST", "/sessions/ID/env", R"({"env": {"STOLEN": "1"}})"},
    {"POST", "/sessions/ID/cwd", R"({"cwd": "/tmp"})"},
    {"GET", "/sessions/ID/files", ""},
    {"GET", "/sessions/ID/files/secret.txt", ""},
    {"PUT", "/sessions/ID/files/secret.txt", "overwritten"},
    {"DELETE", "/sessions/ID/files/secret.txt", ""},
    {"DELETE", "/sessions/ID", ""},
    {"GET", "/no/such/endpoint", ""},
};

HttpResponse call(int port, const RouteCase& route, const std::string& id, Headers headers) {
    std::string target = route.target;
    if (const auto at = target.find("ID"); at != std::string::npos) target.replace(at, 2, id);
    const std::string body = route.body;
    headers["Content-Type"] = body.starts_with("{") ? "application/json" : "application/octet-stream";
    return http_request(port, route.method, target, body, headers);
}

std::string error_of(const HttpResponse& response) {
    json::error_code ec;
    const json::value body = json::parse(response.body, ec);
    if (ec || !body.is_object() || !body.as_object().contains("error")) return "<none>";
    return std::string(body.at("error").as_string());
}

// A gateway with tenants victim and intruder, trusting 127.0.0.1 as a proxy so each attempt below can come
// from its own client address (X-Forwarded-For) and the failure throttle stays out of the way where unwanted.
struct Tenants {
    TenantsFile keys;
    std::string victim = keys.create("victim");
    std::string intruder = keys.create("intruder", {"--prefix", "e2b_"});
    TempDir dir;
    std::string config = [this] {
        const std::string path = dir.path() + "/gateway.toml";
        std::ofstream(path) << "[gateway]\ntrusted_proxies = [\"127.0.0.1\"]\n";
        return path;
    }();
    KeyedStack stack{keys, "", {"--config", config}};
    int port() const { return stack.port(); }
    int next_client = 0;
    // A header set from a client address of its own.
    Headers from_new_client(Headers headers = {}) {
        ++next_client;
        headers["X-Forwarded-For"] =
            "198.51." + std::to_string(next_client / 250) + "." + std::to_string(next_client % 250 + 1);
        return headers;
    }
};

// The victim's session with a file, and its seed 002 user's session with notes; the id of the first.
std::string victim_state(Tenants& t) {
    const HttpResponse created = post_json(t.port(), "/sessions", R"({"name": "victims"})", bearer(t.victim));
    REQUIRE(created.status == 201);
    const std::string id(created.json().at("session_id").as_string());
    REQUIRE(
        http_request(t.port(), "PUT", "/sessions/" + id + "/files/secret.txt", "victim's", bearer(t.victim)).status ==
        201);
    REQUIRE(post_json(t.port(), "/run",
                      R"j({"user_id": "victim-user", "code": "open('notes.txt', 'w').write('kept')\nresult = None"})j",
                      bearer(t.victim))
                .status == 200);
    return id;
}

// The victim's state is exactly as victim_state left it.
void check_victim_untouched(Tenants& t, const std::string& id) {
    const Headers victim = bearer(t.victim);
    HttpResponse response = http_request(t.port(), "GET", "/sessions/" + id, "", victim);
    REQUIRE(response.status == 200);
    CHECK(response.json().at("env").as_object().empty());
    CHECK(response.json().at("cwd") != "/tmp");
    response = http_request(t.port(), "GET", "/sessions/" + id + "/files", "", victim);
    CHECK(response.json().at("files").as_array().size() == 1);
    CHECK(http_request(t.port(), "GET", "/sessions/" + id + "/files/secret.txt", "", victim).body == "victim's");
    response = post_json(t.port(), "/run",
                         R"j({"user_id": "victim-user", "code": "result = open('notes.txt').read()"})j", victim);
    CHECK(response.json().at("result") == "kept");
    response = http_request(t.port(), "GET", "/sessions", "", victim);
    CHECK(response.json().at("sessions").as_array().size() == 2);
}

}  // namespace

TEST_CASE("auth: no key and a wrong key get 401 on every route but /health", "[security][auth]") {
    Tenants t;
    const std::string id = victim_state(t);
    for (const RouteCase& route : kRoutes) {
        INFO(route.method << " " << route.target);
        HttpResponse response = call(t.port(), route, id, t.from_new_client());
        CHECK(response.status == 401);
        CHECK(response.header("www-authenticate") == "Bearer realm=\"jaild\"");
        CHECK(error_of(response).find("X-API-Key") != std::string::npos);
        // A guess, the victim's key with its last character changed, and one of its length.
        std::string near = t.victim;
        near.back() = near.back() == 'A' ? 'B' : 'A';
        for (const std::string& wrong : {std::string("wrong"), near, std::string(t.victim.size(), 'x')}) {
            response = call(t.port(), route, id, t.from_new_client(api_key(wrong)));
            CHECK(response.status == 401);
            CHECK(response.header("www-authenticate") == "Bearer realm=\"jaild\", error=\"invalid_token\"");
            response = call(t.port(), route, id, t.from_new_client(bearer(wrong)));
            CHECK(response.status == 401);
        }
        // Another scheme is not a key.
        response = call(t.port(), route, id, t.from_new_client({{"Authorization", "Basic " + t.victim}}));
        CHECK(response.status == 400);
    }
    CHECK(http_request(t.port(), "GET", "/health").status == 200);
    CHECK(http_request(t.port(), "OPTIONS", "/sessions").status == 204);
    // An unknown path is told apart from a known one only with a key.
    CHECK(http_request(t.port(), "OPTIONS", "/no-such-path").status == 401);
    CHECK(http_request(t.port(), "GET", "/no-such-path").status == 401);
    check_victim_untouched(t, id);
}

TEST_CASE("auth: another tenant's key cannot see or touch the first tenant's sessions", "[security][auth]") {
    Tenants t;
    const std::string id = victim_state(t);
    const Headers intruder = bearer(t.intruder);
    for (const RouteCase& route : kRoutes) {
        INFO(route.method << " " << route.target);
        const HttpResponse response = call(t.port(), route, id, intruder);
        INFO(response.body);
        const std::string target = route.target;
        if (target.find("ID") != std::string::npos || target == "/no/such/endpoint") {
            CHECK(response.status == 404);
        } else {
            CHECK(response.status / 100 == 2);  // its own runs, its own sessions
            CHECK(response.body.find(id) == std::string::npos);
            CHECK(response.body.find("kept") == std::string::npos);
        }
    }
    // Its "victims" session and "victim-user" are its own, empty ones.
    const HttpResponse listed = http_request(t.port(), "GET", "/sessions", "", intruder);
    CHECK(listed.json().at("sessions").as_array().size() == 2);
    CHECK(listed.body.find(id) == std::string::npos);
    check_victim_untouched(t, id);
}

TEST_CASE("auth: two different keys in one request are refused with 400", "[security][auth]") {
    Tenants t;
    const std::string id = victim_state(t);
    const std::string target = "/sessions/" + id;
    HttpResponse response =
        http_request(t.port(), "GET", target, "", {{"Authorization", "Bearer " + t.intruder}, {"X-API-Key", t.victim}});
    CHECK(response.status == 400);
    CHECK(error_of(response).find("Authorization") != std::string::npos);
    CHECK(error_of(response).find("X-API-Key") != std::string::npos);
    CHECK(response.body.find(t.victim) == std::string::npos);
    // Two Authorization lines, on a raw connection (a map of headers cannot hold them).
    RawConnection raw(t.port());
    REQUIRE(raw.send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " +
                     t.intruder + "\r\nAuthorization: Bearer " + t.victim + "\r\n\r\n"));
    bool closed = false;
    CHECK(raw.receive_all(5s, closed).starts_with("HTTP/1.1 400"));
    // The same key twice is one key.
    response =
        http_request(t.port(), "GET", target, "", {{"Authorization", "Bearer " + t.victim}, {"X-API-Key", t.victim}});
    CHECK(response.status == 200);
    check_victim_untouched(t, id);
}

TEST_CASE("auth: repeated failures from one client are throttled, others are not", "[security][auth]") {
    Tenants t;
    const Headers attacker = {{"X-Forwarded-For", "203.0.113.66"}};
    const Headers bystander = {{"X-Forwarded-For", "203.0.113.77"}};
    Headers guess = attacker;
    for (int i = 0; i < 10; ++i) {
        guess["X-API-Key"] = "guess-" + std::to_string(i);
        CHECK(http_request(t.port(), "GET", "/sessions", "", guess).status == 401);
    }
    // Now every further guess is held back, and told for how long; a right key from that address (a NAT
    // shared with the guesser) is still let in.
    guess["X-API-Key"] = "guess-10";
    const HttpResponse held = http_request(t.port(), "GET", "/sessions", "", guess);
    CHECK(held.status == 429);
    CHECK(held.header("retry-after") == "6");
    CHECK(error_of(held).find("203.0.113.66") != std::string::npos);
    Headers right = attacker;
    right["X-API-Key"] = t.victim;
    CHECK(http_request(t.port(), "GET", "/sessions", "", right).status == 200);
    // Another client, and a request without a key, are unaffected.
    Headers other = bystander;
    other["X-API-Key"] = t.victim;
    CHECK(http_request(t.port(), "GET", "/sessions", "", other).status == 200);
    CHECK(http_request(t.port(), "GET", "/health", "", attacker).status == 200);
    // After Retry-After, one more try.
    std::this_thread::sleep_for(6s);
    CHECK(http_request(t.port(), "GET", "/sessions", "", right).status == 200);
    guess["X-API-Key"] = "guess-again";
    CHECK(http_request(t.port(), "GET", "/sessions", "", guess).status == 401);
    guess["X-API-Key"] = "guess-once-more";
    CHECK(http_request(t.port(), "GET", "/sessions", "", guess).status == 429);
}

TEST_CASE("auth: a request without a valid key is refused on its header, its body never waited for",
          "[security][auth]") {
    Tenants t;
    // Expect: 100-continue and a body the gateway would take: 401 at once, no 100 Continue.
    {
        RawConnection raw(t.port());
        REQUIRE(
            raw.send("POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 20\r\nExpect: 100-continue\r\n\r\n"));
        bool closed = false;
        const std::string answer = raw.receive_all(2s, closed);
        INFO(answer);
        CHECK(answer.starts_with("HTTP/1.1 401 "));
        CHECK(answer.find("100 Continue") == std::string::npos);
        CHECK(closed);
    }
    // A promised body larger than any the gateway takes, never sent: 401 without waiting for it (not 413, and
    // not the body timeout), then the connection closes.
    {
        RawConnection raw(t.port());
        const auto started = std::chrono::steady_clock::now();
        REQUIRE(
            raw.send("POST /sessions HTTP/1.1\r\nHost: x\r\nX-API-Key: not-a-key\r\n"
                     "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{"));
        bool closed = false;
        const std::string answer = raw.receive_all(3s, closed);
        INFO(answer);
        CHECK(answer.starts_with("HTTP/1.1 401 "));
        CHECK(answer.find("invalid_token") != std::string::npos);
        CHECK(closed);
        CHECK(std::chrono::steady_clock::now() - started < 2s);
    }
    // An upload (a body the handler streams) is refused the same way.
    {
        RawConnection raw(t.port());
        REQUIRE(raw.send("PUT /sessions/x/files/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
        bool closed = false;
        const std::string answer = raw.receive_all(3s, closed);
        INFO(answer);
        CHECK(answer.starts_with("HTTP/1.1 401 "));
        CHECK(closed);
    }
}

}  // namespace jaild::test
