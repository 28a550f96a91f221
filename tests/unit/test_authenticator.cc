// The gateway's authentication without sockets: which key a request presents, which routes are public, the
// client's address through trusted proxies, the verdicts' answers, the failure throttle and the reload.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "gateway/authenticator.h"
#include "gateway/client_address.h"
#include "gateway/keys_file.h"
#include "tests/support/harness.h"

using namespace jaild::gateway;
namespace ip = boost::asio::ip;

namespace {

Request request_with(http::verb method, std::string target,
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Request request{method, target, 11};
    for (const auto& [name, value] : headers) request.insert(name, value);
    return request;
}

Request get_sessions(const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return request_with(http::verb::get, "/sessions", headers);
}

const Seconds kNow = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
const AuthThrottle::Clock::time_point kSteady = AuthThrottle::Clock::now();

// A keys file with tenant acme (one good, one revoked, one expired key) and tenant beta (one good key).
struct KeysFixture {
    jaild::test::TempDir dir;
    std::string file = dir.path() + "/keys.toml";
    std::string acme_key = mint_key("e2b_"), revoked_key = mint_key(""), expired_key = mint_key(""),
                beta_key = mint_key("");
    TenantKeys keys;
    GatewayOptions options;

    static ApiKey key_of(const std::string& key) {
        ApiKey api;
        api.sha256 = hash_key(key);
        api.id = key_id(api.sha256);
        api.created = kNow - std::chrono::days(2);
        return api;
    }
    KeysFixture() {
        keys.tenants["acme"].keys = {key_of(acme_key), key_of(revoked_key), key_of(expired_key)};
        keys.tenants["acme"].keys[1].revoked = true;
        keys.tenants["acme"].keys[2].expires = kNow - std::chrono::days(1);
        keys.tenants["beta"].keys = {key_of(beta_key)};
        save_keys_file(file, keys);
        options.keys_file = file;
    }
};

std::string body_of(const std::optional<Response>& response) { return response ? response->body() : ""; }

}  // namespace

TEST_CASE("auth: the key a request presents", "[unit][auth]") {
    using Kind = PresentedKey::Kind;
    CHECK(presented_key(get_sessions()).kind == Kind::none);
    auto found = presented_key(get_sessions({{"Authorization", "Bearer abc"}}));
    CHECK(found.kind == Kind::key);
    CHECK(found.key == "abc");
    CHECK(presented_key(get_sessions({{"authorization", "bearer  abc"}})).key == "abc");
    CHECK(presented_key(get_sessions({{"X-API-Key", "xyz"}})).key == "xyz");
    CHECK(presented_key(get_sessions({{"x-api-key", "xyz"}})).key == "xyz");
    // The same key in both headers is one key.
    found = presented_key(get_sessions({{"Authorization", "Bearer k1"}, {"X-API-Key", "k1"}}));
    CHECK(found.kind == Kind::key);
    CHECK(found.key == "k1");
    // Two different ones: refused, naming both headers.
    found = presented_key(get_sessions({{"Authorization", "Bearer k1"}, {"X-API-Key", "k2"}}));
    CHECK(found.kind == Kind::conflicting);
    CHECK_THAT(found.message, Catch::Contains("Authorization") && Catch::Contains("X-API-Key"));
    found = presented_key(get_sessions({{"X-API-Key", "k1"}, {"X-API-Key", "k2"}}));
    CHECK(found.kind == Kind::conflicting);
    CHECK_THAT(found.message, Catch::Contains("a second X-API-Key"));
    for (const char* bad : {"Basic dXNlcjpwdw==", "Bearer", "Bearer ", "Bearer a b", "abc"}) {
        INFO(bad);
        found = presented_key(get_sessions({{"Authorization", bad}}));
        CHECK(found.kind == Kind::malformed);
        CHECK_THAT(found.message, Catch::Contains("Authorization"));
    }
    CHECK(presented_key(get_sessions({{"X-API-Key", std::string(513, 'a')}})).kind == Kind::malformed);
    CHECK(presented_key(get_sessions({{"X-API-Key", std::string(512, 'a')}})).kind == Kind::key);
}

TEST_CASE("auth: public routes need no key", "[unit][auth]") {
    CHECK(is_public(http::verb::get, "/health"));
    CHECK(is_public(http::verb::get, "/health?verbose=1"));
    // A CORS preflight on a known path is answered before the key is looked at (HttpConnection::answer);
    // any other OPTIONS needs a key, so an unknown path is not told apart from a known one.
    CHECK_FALSE(is_public(http::verb::options, "/sessions"));
    CHECK_FALSE(is_public(http::verb::options, "/no-such-path"));
    CHECK_FALSE(is_public(http::verb::post, "/health"));
    CHECK_FALSE(is_public(http::verb::get, "/healthz"));
    CHECK_FALSE(is_public(http::verb::get, "/health/x"));
    for (const char* path : {"/sessions", "/languages", "/run", "/execute", "/sessions/x/files/a"})
        CHECK_FALSE(is_public(http::verb::get, path));
}

TEST_CASE("auth: trusted proxies as addresses and networks", "[unit][auth]") {
    AddressSet set;
    CHECK_FALSE(set.contains(ip::make_address("127.0.0.1")));
    set.add("10.0.0.0/8");
    set.add("192.168.1.7");
    set.add("fd00::/8");
    CHECK(set.contains(ip::make_address("10.200.3.4")));
    CHECK(set.contains(ip::make_address("::ffff:10.1.1.1")));  // an IPv4 peer on an IPv6 socket
    CHECK_FALSE(set.contains(ip::make_address("11.0.0.1")));
    CHECK(set.contains(ip::make_address("192.168.1.7")));
    CHECK_FALSE(set.contains(ip::make_address("192.168.1.8")));
    CHECK(set.contains(ip::make_address("fd12::1")));
    CHECK_FALSE(set.contains(ip::make_address("fe80::1")));
    AddressSet odd;
    odd.add("172.16.0.0/12");
    CHECK(odd.contains(ip::make_address("172.31.255.255")));
    CHECK_FALSE(odd.contains(ip::make_address("172.32.0.0")));
    for (const char* bad : {"abc", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::/129", "10.0.0.0/8/8", ""}) {
        INFO(bad);
        CHECK_THROWS_AS(set.add(bad), jaild::ConfigError);
    }
    CHECK(parse_hop(" 203.0.113.7 ") == ip::make_address("203.0.113.7"));
    CHECK(parse_hop("[2001:db8::1]") == ip::make_address("2001:db8::1"));
    CHECK(parse_hop("::ffff:1.2.3.4") == ip::make_address("1.2.3.4"));
    for (const char* bad : {"", "unknown", "1.2.3.4:80", "example.com", "fe80::1%eth0", "1.2.3.4 5"})
        CHECK_FALSE(parse_hop(bad));
    // The nearest hop that is not a trusted proxy: what a client writes at the left is not believed.
    AddressSet proxies;
    proxies.add("10.0.0.0/24");
    CHECK(forwarded_client({"198.51.100.1, 10.0.0.2", "10.0.0.3"}, proxies) == ip::make_address("198.51.100.1"));
    CHECK(forwarded_client({"198.51.100.1, 203.0.113.5, 10.0.0.2"}, proxies) == ip::make_address("203.0.113.5"));
    CHECK(forwarded_client({"10.0.0.7,10.0.0.2"}, proxies) == ip::make_address("10.0.0.7"));
    CHECK(forwarded_client({"garbage, 203.0.113.5"}, proxies) == ip::make_address("203.0.113.5"));
    CHECK_FALSE(forwarded_client({"203.0.113.5, garbage"}, proxies));
    CHECK_FALSE(forwarded_client({""}, proxies));
}

TEST_CASE("auth: without keys the principal is the client's address", "[unit][auth]") {
    GatewayOptions options;
    options.trusted_proxies.add("127.0.0.1");
    Authenticator auth(options);
    Caller caller;
    const auto proxy = ip::make_address("127.0.0.1");
    const auto other = ip::make_address("127.0.0.2");
    CHECK_FALSE(auth.authenticate(get_sessions(), other, caller));
    CHECK(caller.principal == "address:127.0.0.2");
    CHECK(caller.tenant.empty());
    CHECK(caller.keys == nullptr);
    // A trusted proxy's nearest untrusted hop names the client; a hop the client wrote before it does not.
    CHECK_FALSE(auth.authenticate(get_sessions({{"X-Forwarded-For", "203.0.113.9"}}), proxy, caller));
    CHECK(caller.principal == "address:203.0.113.9");
    CHECK(caller.remote == "203.0.113.9");
    CHECK_FALSE(auth.authenticate(get_sessions({{"X-Forwarded-For", "127.0.0.2, 203.0.113.9"}}), proxy, caller));
    CHECK(caller.principal == "address:203.0.113.9");
    // Without the header, the proxy itself.
    CHECK_FALSE(auth.authenticate(get_sessions(), proxy, caller));
    CHECK(caller.principal == "address:127.0.0.1");
    // An untrusted peer's header is ignored.
    CHECK_FALSE(auth.authenticate(get_sessions({{"X-Forwarded-For", "203.0.113.9"}}), other, caller));
    CHECK(caller.principal == "address:127.0.0.2");
    // Garbage from a trusted proxy is refused.
    const auto refused = auth.authenticate(get_sessions({{"X-Forwarded-For", "not-an-ip"}}), proxy, caller);
    REQUIRE(refused);
    CHECK(refused->result_int() == 400);
    CHECK_THAT(refused->body(), Catch::Contains("\"field\":\"X-Forwarded-For\""));
    // Keys sent to a gateway without keys change nothing.
    CHECK_FALSE(auth.authenticate(get_sessions({{"X-API-Key", "whatever"}}), other, caller));
    CHECK(caller.principal == "address:127.0.0.2");
}

TEST_CASE("auth: verdicts and their answers", "[unit][auth]") {
    KeysFixture fx;
    Authenticator auth(fx.options);
    Caller caller;
    const auto peer = ip::make_address("127.0.0.1");
    auto check = [&](const Request& request) { return auth.authenticate(request, peer, caller, kNow, kSteady); };

    CHECK_FALSE(check(get_sessions({{"Authorization", "Bearer " + fx.acme_key}})));
    CHECK(caller.tenant == "acme");
    CHECK(caller.principal == "tenant:acme");
    CHECK(caller.remote == "127.0.0.1");
    REQUIRE(caller.keys);
    CHECK(caller.entry == &caller.keys->tenants.at("acme"));
    CHECK_FALSE(check(get_sessions({{"X-API-Key", fx.beta_key}})));
    CHECK(caller.principal == "tenant:beta");

    auto missing = check(get_sessions());
    REQUIRE(missing);
    CHECK(missing->result_int() == 401);
    CHECK((*missing)[http::field::www_authenticate] == "Bearer realm=\"jaild\"");
    CHECK_THAT(missing->body(), Catch::Contains("Authorization: Bearer <key>") && Catch::Contains("X-API-Key"));

    auto unknown = check(get_sessions({{"X-API-Key", mint_key("")}}));
    REQUIRE(unknown);
    CHECK(unknown->result_int() == 401);
    CHECK((*unknown)[http::field::www_authenticate] == "Bearer realm=\"jaild\", error=\"invalid_token\"");

    const std::string revoked_id = key_id(hash_key(fx.revoked_key));
    auto revoked = check(get_sessions({{"Authorization", "Bearer " + fx.revoked_key}}));
    REQUIRE(revoked);
    CHECK(revoked->result_int() == 401);
    CHECK_THAT(revoked->body(), Catch::Contains("revoked") && Catch::Contains(revoked_id));
    CHECK(revoked->body().find(fx.revoked_key) == std::string::npos);
    auto expired = check(get_sessions({{"Authorization", "Bearer " + fx.expired_key}}));
    REQUIRE(expired);
    CHECK_THAT(body_of(expired), Catch::Contains("expired"));

    auto both = check(get_sessions({{"Authorization", "Bearer " + fx.acme_key}, {"X-API-Key", fx.beta_key}}));
    REQUIRE(both);
    CHECK(both->result_int() == 400);
    CHECK_THAT(both->body(), Catch::Contains("Authorization") && Catch::Contains("X-API-Key"));
    CHECK_FALSE(check(get_sessions({{"Authorization", "Bearer " + fx.acme_key}, {"X-API-Key", fx.acme_key}})));

    // /health needs no key.
    CHECK_FALSE(check(request_with(http::verb::get, "/health")));
    CHECK(caller.tenant.empty());
}

TEST_CASE("auth: repeated failures from one address are throttled", "[unit][auth]") {
    KeysFixture fx;
    Authenticator auth(fx.options);
    Caller caller;
    const auto peer = ip::make_address("192.0.2.1");
    const auto bystander = ip::make_address("192.0.2.2");
    const Request wrong = get_sessions({{"X-API-Key", "wrong"}});
    const Request right = get_sessions({{"X-API-Key", fx.acme_key}});
    for (int i = 0; i < static_cast<int>(AuthThrottle::kBurst); ++i) {
        const auto answer = auth.authenticate(wrong, peer, caller, kNow, kSteady);
        REQUIRE(answer);
        CHECK(answer->result_int() == 401);
    }
    // Now a wrong key waits, and says how long; the right key from the same address is let in.
    auto throttled = auth.authenticate(wrong, peer, caller, kNow, kSteady);
    REQUIRE(throttled);
    CHECK(throttled->result_int() == 429);
    CHECK((*throttled)[http::field::retry_after] == "6");
    CHECK_FALSE(auth.authenticate(right, peer, caller, kNow, kSteady));
    CHECK(caller.tenant == "acme");
    CHECK(auth.authenticate(wrong, bystander, caller, kNow, kSteady)->result_int() == 401);
    CHECK((*auth.authenticate(wrong, peer, caller, kNow,
                              kSteady + std::chrono::seconds(3)))[http::field::retry_after] == "3");
    // An attempt earned back: one more failure is told 401, then the address waits again.
    CHECK(auth.authenticate(wrong, peer, caller, kNow, kSteady + AuthThrottle::kRefill)->result_int() == 401);
    CHECK(auth.authenticate(wrong, peer, caller, kNow, kSteady + AuthThrottle::kRefill)->result_int() == 429);
    // Missing keys do not count as failures.
    for (int i = 0; i < 30; ++i)
        CHECK(auth.authenticate(get_sessions(), bystander, caller, kNow, kSteady)->result_int() == 401);
}

TEST_CASE("auth: the throttle remembers a bounded number of addresses", "[unit][auth]") {
    AuthThrottle throttle;
    for (std::size_t i = 0; i < AuthThrottle::kTracked * 2; ++i) {
        const std::string address = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
        for (int n = 0; n < 11; ++n) throttle.failed(address, kSteady);
    }
    CHECK(throttle.tracked() <= AuthThrottle::kTracked);
    // The latest failing address is still held back.
    const std::size_t last = AuthThrottle::kTracked * 2 - 1;
    CHECK(
        throttle.blocked_for("10.0." + std::to_string(last / 256) + "." + std::to_string(last % 256), kSteady).count() >
        0);
}

TEST_CASE("auth: reload swaps the keys, a bad file keeps the old ones", "[unit][auth]") {
    KeysFixture fx;
    Authenticator auth(fx.options);
    Caller caller;
    const auto peer = ip::make_address("127.0.0.1");
    const Request acme = get_sessions({{"X-API-Key", fx.acme_key}});
    const auto before = auth.keys();
    CHECK_FALSE(auth.authenticate(acme, peer, caller));

    fx.keys.tenants["acme"].keys[0].revoked = true;
    save_keys_file(fx.file, fx.keys);
    CHECK(auth.reload());
    CHECK_THAT(body_of(auth.authenticate(acme, peer, caller)), Catch::Contains("revoked"));
    CHECK(before->tenants.at("acme").keys[0].revoked == false);  // a request's snapshot stays as it was

    // A broken file: the keys in force stay (beta still gets in, acme's key stays revoked).
    std::ofstream(fx.file) << "[tenants.beta]\nkeys = [\n";
    CHECK_FALSE(auth.reload());
    CHECK_FALSE(auth.authenticate(get_sessions({{"X-API-Key", fx.beta_key}}), peer, caller));
    // An others-readable one too.
    save_keys_file(fx.file, TenantKeys{});
    ::chmod(fx.file.c_str(), 0644);
    CHECK_FALSE(auth.reload());
    CHECK_FALSE(auth.authenticate(get_sessions({{"X-API-Key", fx.beta_key}}), peer, caller));
}

TEST_CASE("auth: a keys file that cannot be used stops the start, naming the line", "[unit][auth]") {
    jaild::test::TempDir dir;
    GatewayOptions options;
    options.keys_file = dir.path() + "/keys.toml";
    CHECK_THROWS_AS(Authenticator(options), KeysFileError);  // missing
    {
        std::ofstream out(options.keys_file);
        out << "# tenants\n[tenants.acme]\nkeys = 3\n";
    }
    ::chmod(options.keys_file.c_str(), 0640);
    CHECK_THROWS_WITH(Authenticator(options), Catch::Contains(options.keys_file + ":3"));
}

TEST_CASE("auth: the gateway's config keys for keys, proxies and running open", "[unit][auth]") {
    jaild::test::TempDir dir;
    const std::string path = dir.path() + "/gateway.toml";
    auto load = [&](const std::string& text) {
        std::ofstream(path) << text;
        GatewayOptions options;
        load_options_file(path, options);
        return options;
    };
    GatewayOptions options = load(
        "[gateway]\nkeys_file = \"/etc/jaild/keys.toml\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n"
        "insecure_no_auth = true\n");
    CHECK(options.keys_file == "/etc/jaild/keys.toml");
    CHECK(options.insecure_no_auth);
    CHECK(options.trusted_proxies.contains(ip::make_address("10.9.8.7")));
    CHECK(options.trusted_proxies.contains(ip::make_address("::1")));
    CHECK_FALSE(options.trusted_proxies.contains(ip::make_address("127.0.0.1")));
    CHECK(load("[gateway]\ntrusted_proxies = []\n").trusted_proxies.empty());
    CHECK_THROWS_WITH(load("[gateway]\ntrusted_proxies = [\"10.0.0.0/40\"]\n"), Catch::Contains("10.0.0.0/40"));
    CHECK_THROWS_WITH(load("[gateway]\ntrusted_proxies = \"10.0.0.1\"\n"), Catch::Contains("array"));
    CHECK_THROWS_WITH(load("[gateway]\ninsecure_no_auth = 1\n"), Catch::Contains("boolean"));
    CHECK_THROWS_WITH(load("[gateway]\nkeys_file = 3\n"), Catch::Contains("keys_file"));
    // allow_remote is gone, and the message says what replaces it.
    CHECK_THROWS_WITH(load("[gateway]\nallow_remote = true\n"),
                      Catch::Contains("keys_file") && Catch::Contains("insecure_no_auth"));
}
