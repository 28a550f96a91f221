// E2B's control plane on jaild-gateway against a real jaild, spoken to as the e2b 2.51.0 SDK speaks it (the
// requests docs/e2b.md lists, with X-API-KEY): create, get, connect, setTimeout, list with X-Next-Token paging,
// kill, the {"code", "message"} errors the SDK reads, tenants that cannot see each other's sandboxes, and 501
// for what a container cannot do. The SDK itself drives it in tests/e2b.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <set>
#include <thread>

#include "gateway/e2b/connect_envelope.h"
#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
namespace json = boost::json;

namespace {

std::string text(const json::value& value) { return value.is_string() ? std::string(value.as_string()) : ""; }

// The headers e2b 2.51.0 sends on the control plane (docs/e2b.md §1).
Headers sdk(const std::string& key) {
    return {{"X-API-KEY", key}, {"User-Agent", "e2b-js-sdk/2.51.0"}, {"package_version", "2.51.0"}};
}

std::string create(int port, const Headers& headers, const std::string& body = R"({"templateID":"base"})") {
    const auto response = post_json(port, "/v2/sandboxes", body, headers);
    INFO(response.body);
    REQUIRE(response.status == 201);
    const json::value sandbox = response.json();
    CHECK(text(sandbox.at("envdVersion")) == "0.5.7");
    CHECK_FALSE(text(sandbox.at("envdAccessToken")).empty());
    CHECK_FALSE(text(sandbox.at("trafficAccessToken")).empty());
    return text(sandbox.at("sandboxID"));
}

void check_not_found(const HttpResponse& response) {
    INFO(response.body);
    CHECK(response.status == 404);
    CHECK(response.json().at("code") == 404);  // what kill() and connect() test for
    CHECK(text(response.json().at("message")).find("doesn't exist or you don't have access to it") !=
          std::string::npos);
}

}  // namespace

TEST_CASE("e2b control plane: a sandbox's life through the SDK's calls", "[gateway][e2b]") {
    TenantsFile keys;
    const Headers acme = sdk(keys.create("acme"));
    KeyedStack stack(keys);
    const int port = stack.port();

    const auto created = post_json(
        port, "/v2/sandboxes",
        R"({"templateID":"code-interpreter-v1","envVars":{"FOO":"bar"},"timeout":120,"metadata":{"team":"blue"}})",
        acme);
    INFO(created.body);
    REQUIRE(created.status == 201);
    const json::value sandbox = created.json();
    const std::string id = text(sandbox.at("sandboxID"));
    CHECK(text(sandbox.at("templateID")) == "code-interpreter-v1");
    CHECK(sandbox.at("domain").is_null());
    CHECK(text(sandbox.at("envdAccessToken")) != text(sandbox.at("trafficAccessToken")));

    // It is a live session of the tenant, with the env and the deadline asked for.
    const auto session = http_request(port, "GET", "/sessions/" + id, "", acme);
    REQUIRE(session.status == 200);
    CHECK(session.json().at("live") == true);
    CHECK(text(session.json().at("env").at("FOO")) == "bar");
    CHECK(session.json().at("labels") ==
          json::parse(R"({"e2b.meta.team":"blue","e2b.template":"code-interpreter-v1"})"));  // kept by jaild
    const auto deadline = session.json().at("deadline_unix_ms").to_number<std::int64_t>();
    const auto created_ms = session.json().at("created_ms").to_number<std::int64_t>();
    CHECK(deadline - created_ms >= 119'000);
    CHECK(deadline - created_ms <= 121'000);

    const auto info = http_request(port, "GET", "/sandboxes/" + id, "", acme);
    INFO(info.body);
    REQUIRE(info.status == 200);
    CHECK(text(info.json().at("sandboxID")) == id);
    CHECK(text(info.json().at("state")) == "running");
    CHECK(text(info.json().at("templateID")) == "code-interpreter-v1");
    CHECK(info.json().at("metadata") == json::parse(R"({"team":"blue"})"));
    const auto blue = http_request(port, "GET", "/v2/sandboxes?metadata=team%3Dblue", "", acme);
    REQUIRE(blue.status == 200);
    CHECK(blue.json().as_array().size() == 1);
    CHECK(http_request(port, "GET", "/v2/sandboxes?metadata=team%3Dred", "", acme).json().as_array().empty());
    CHECK(text(info.json().at("endAt")).ends_with("Z"));
    CHECK(text(info.json().at("envdAccessToken")) == text(sandbox.at("envdAccessToken")));

    // Connect returns the same tokens and never shortens the deadline (120 s left, 60 asked).
    const auto connected = post_json(port, "/v2/sandboxes/" + id + "/connect", R"({"timeout":60})", acme);
    INFO(connected.body);
    REQUIRE(connected.status == 200);
    CHECK(text(connected.json().at("envdAccessToken")) == text(sandbox.at("envdAccessToken")));
    CHECK(text(connected.json().at("trafficAccessToken")) == text(sandbox.at("trafficAccessToken")));
    CHECK(http_request(port, "GET", "/sessions/" + id, "", acme).json().at("deadline_unix_ms") == deadline);
    // ... and extends it when asked for more.
    REQUIRE(post_json(port, "/v2/sandboxes/" + id + "/connect", R"({"timeout":600})", acme).status == 200);
    CHECK(
        http_request(port, "GET", "/sessions/" + id, "", acme).json().at("deadline_unix_ms").to_number<std::int64_t>() >
        deadline + 400'000);

    // setTimeout may shorten it.
    const auto timeout = post_json(port, "/sandboxes/" + id + "/timeout", R"({"timeout":30})", acme);
    CHECK(timeout.status == 204);
    const auto shortened =
        http_request(port, "GET", "/sessions/" + id, "", acme).json().at("deadline_unix_ms").to_number<std::int64_t>();
    CHECK(shortened < deadline);

    const auto killed = http_request(port, "DELETE", "/sandboxes/" + id, "", acme);
    CHECK(killed.status == 204);
    check_not_found(http_request(port, "DELETE", "/sandboxes/" + id, "", acme));  // kill() then says false
    check_not_found(http_request(port, "GET", "/sandboxes/" + id, "", acme));
    check_not_found(post_json(port, "/v2/sandboxes/" + id + "/connect", "{}", acme));
    check_not_found(post_json(port, "/sandboxes/" + id + "/timeout", R"({"timeout":30})", acme));
    CHECK(http_request(port, "GET", "/sessions/" + id, "", acme).status == 404);
}

TEST_CASE("e2b control plane: listing pages by X-Next-Token, and tenants see only their own", "[gateway][e2b]") {
    TenantsFile keys;
    const Headers acme = sdk(keys.create("acme"));
    const Headers beta = sdk(keys.create("beta"));
    KeyedStack stack(keys);
    const int port = stack.port();

    std::set<std::string> mine;
    for (int i = 0; i < 3; ++i) mine.insert(create(port, acme));
    const std::string theirs = create(port, beta);
    // A session that is not live is no sandbox.
    REQUIRE(post_json(port, "/sessions", "{}", acme).status == 201);

    std::set<std::string> listed;
    std::string target = "/v2/sandboxes?limit=2";
    int pages = 0;
    for (;;) {
        const auto page = http_request(port, "GET", target, "", acme);
        INFO(page.body);
        REQUIRE(page.status == 200);
        const json::value items = page.json();
        REQUIRE(items.is_array());
        CHECK(items.as_array().size() <= 2);
        for (const json::value& sandbox : items.as_array()) {
            CHECK(text(sandbox.at("state")) == "running");
            CHECK_FALSE(sandbox.as_object().contains("envdAccessToken"));
            listed.insert(text(sandbox.at("sandboxID")));
        }
        ++pages;
        const std::string next = page.header("x-next-token");
        if (next.empty()) break;
        REQUIRE(pages < 5);
        target = "/v2/sandboxes?limit=2&nextToken=" + next;
    }
    CHECK(pages == 2);
    CHECK(listed == mine);

    // Another tenant's sandbox is as absent as one that never was, and its kill does nothing.
    check_not_found(http_request(port, "GET", "/sandboxes/" + theirs, "", acme));
    check_not_found(http_request(port, "DELETE", "/sandboxes/" + theirs, "", acme));
    check_not_found(post_json(port, "/v2/sandboxes/" + theirs + "/connect", "{}", acme));
    CHECK(http_request(port, "GET", "/sandboxes/" + theirs, "", beta).status == 200);
    // Without a key: 401.
    CHECK(http_request(port, "GET", "/v2/sandboxes").status == 401);
}

TEST_CASE("e2b control plane: what a container cannot do fails cleanly", "[gateway][e2b]") {
    TenantsFile keys;
    const Headers acme = sdk(keys.create("acme"));
    KeyedStack stack(keys);
    const int port = stack.port();
    const std::string id = create(port, acme);

    const auto check_error = [](const HttpResponse& response, int status, const std::string& words) {
        INFO(response.status << " " << response.body);
        CHECK(response.status == status);
        CHECK(response.json().at("code") == status);
        CHECK(text(response.json().at("message")).find(words) != std::string::npos);
    };
    check_error(post_json(port, "/sandboxes/" + id + "/snapshots", "{}", acme), 501, "snapshots are not supported");
    check_error(post_json(port, "/sandboxes/" + id + "/pause", "{}", acme), 501, "pausing is not supported");
    check_error(post_json(port, "/sandboxes/" + id + "/fork", "{}", acme), 501, "forking");
    check_error(http_request(port, "GET", "/sandboxes/" + id + "/metrics", "", acme), 501, "metrics");
    check_error(http_request(port, "GET", "/templates", "", acme), 501, "templates");
    check_error(post_json(port, "/v2/sandboxes", R"({"templateID":"my-own"})", acme), 400, "not available in jaild");
    check_error(post_json(port, "/v2/sandboxes", R"({"allow_internet_access":true})", acme), 400, "no network");
    check_error(post_json(port, "/v2/sandboxes", R"({"autoPause":true})", acme), 400, "pausing");
    check_error(post_json(port, "/v2/sandboxes", R"({"timeout":0})", acme), 400, "timeout");
    check_error(http_request(port, "GET", "/v2/sandboxes?limit=500", "", acme), 400, "limit");
    Headers text_plain = acme;
    text_plain["Content-Type"] = "text/plain";
    check_error(http_request(port, "POST", "/v2/sandboxes", "templateID=base", text_plain), 415, "application/json");
    // The sandbox is still there after all that.
    CHECK(http_request(port, "GET", "/sandboxes/" + id, "", acme).status == 200);
}

TEST_CASE("e2b envd: requests naming a sandbox need its token, which names its owner", "[gateway][e2b]") {
    TenantsFile keys;
    const Headers acme = sdk(keys.create("acme"));
    const Headers beta = sdk(keys.create("beta"));
    KeyedStack stack(keys);
    const int port = stack.port();
    const auto made = post_json(port, "/v2/sandboxes", "{}", acme);
    REQUIRE(made.status == 201);
    const std::string id = text(made.json().at("sandboxID"));
    const std::string token = text(made.json().at("envdAccessToken"));
    const auto other = post_json(port, "/v2/sandboxes", "{}", beta);
    REQUIRE(other.status == 201);
    const std::string other_token = text(other.json().at("envdAccessToken"));

    const auto envd = [&](const std::string& access_token, const std::string& sandbox_port = "49983") {
        Headers headers{{"E2b-Sandbox-Id", id}, {"E2b-Sandbox-Port", sandbox_port}, {"Connect-Protocol-Version", "1"}};
        if (!access_token.empty()) headers["X-Access-Token"] = access_token;
        return post_json(port, "/process.Process/List", "{}", headers);
    };
    const auto listed = envd(token);
    INFO(listed.body);
    CHECK(listed.status == 200);
    CHECK(listed.json() == json::parse(R"({"processes":[]})"));
    // No token, another sandbox's (of another tenant), the traffic token: 401, as envd answers.
    for (const std::string& wrong : {std::string(), other_token, text(made.json().at("trafficAccessToken"))}) {
        const auto refused = envd(wrong);
        INFO(refused.body);
        CHECK(refused.status == 401);
        CHECK(refused.json().at("code") == 401);
    }
    // A port of the sandbox other than envd's and the interpreter's cannot be reached.
    CHECK(envd(token, "3000").status == 501);
    // An unknown pid is not_found, which the SDK's kill() reads as false.
    Headers headers{{"E2b-Sandbox-Id", id}, {"E2b-Sandbox-Port", "49983"}, {"X-Access-Token", token}};
    const auto kill = post_json(port, "/process.Process/SendSignal",
                                R"({"process":{"pid":99999},"signal":"SIGNAL_SIGKILL"})", headers);
    CHECK(kill.status == 404);
    CHECK(kill.json() == json::parse(R"({"code":"not_found","message":"process with pid 99999 not found"})"));
    // envd's /health (isRunning()) is not the gateway's.
    const auto health = http_request(port, "GET", "/health", "", headers);
    CHECK(health.status == 204);
    // Once the sandbox is gone, /health with its token says so (isRunning() false); without a token it
    // answers 204 for any id, telling nothing about which exist.
    REQUIRE(http_request(port, "DELETE", "/sandboxes/" + id, "", acme).status == 204);
    const auto gone = http_request(port, "GET", "/health", "", headers);
    CHECK(gone.status == 502);
    CHECK(gone.json().at("code") == 502);
    CHECK(http_request(port, "GET", "/health", "", {{"E2b-Sandbox-Id", id}, {"E2b-Sandbox-Port", "49983"}}).status ==
          204);
}

TEST_CASE(
    "e2b: a revoked tenant's tokens end, wrong tokens count toward the client's throttle, and a missing "
    "key is refused in E2B's shape",
    "[gateway][e2b][auth]") {
    TenantsFile keys;
    const std::string key = keys.create("acme");
    const std::string leaving = keys.create("beta");
    KeyedStack stack(keys);
    const int port = stack.port();
    const auto sandbox = [&](const std::string& of) {
        const auto made = post_json(port, "/v2/sandboxes", "{}", sdk(of));
        REQUIRE(made.status == 201);
        return std::pair{text(made.json().at("sandboxID")), text(made.json().at("envdAccessToken"))};
    };
    const auto list = [&](const std::pair<std::string, std::string>& which, const std::string& suffix = "") {
        Headers headers{{"E2b-Sandbox-Id", which.first}, {"E2b-Sandbox-Port", "49983"}};
        headers["X-Access-Token"] = which.second + suffix;
        return post_json(port, "/process.Process/List", "{}", headers);
    };
    const auto mine = sandbox(key);
    const auto theirs = sandbox(leaving);

    // The SDK shows {"code", "message"}; the gateway's own {"error", "field"} reached users as [object Object].
    const auto no_key = post_json(port, "/v2/sandboxes", "{}", {});
    CHECK(no_key.status == 401);
    CHECK(no_key.json().at("code") == 401);
    CHECK(text(no_key.json().at("message")).find("API key is required") != std::string::npos);

    // Revoking a tenant's only key ends its sandboxes' tokens too.
    CHECK(list(theirs).status == 200);
    keys.revoke("beta");
    REQUIRE(::kill(stack.gateway.pid(), SIGHUP) == 0);
    HttpResponse after;
    for (int i = 0; i < 200 && (after = list(theirs)).status == 200; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // until the reload is in
    INFO(after.body);
    CHECK(after.status == 401);
    CHECK(text(after.json().at("message")).find("no API key in force") != std::string::npos);

    // Guessing tokens is throttled as guessing keys is (a burst of 10 failures, one spent just above).
    int refused = 0;
    HttpResponse last;
    for (int i = 0; i < 12 && (last = list(mine, "x")).status == 401; ++i) ++refused;
    INFO(last.body);
    CHECK(refused >= 8);
    CHECK(last.status == 429);
    CHECK(last.json().at("code") == 429);
    CHECK_FALSE(last.header("retry-after").empty());
    CHECK(list(mine).status == 200);  // the right token still gets in, as a valid key does
}

TEST_CASE("e2b envd: a silent command's stream carries keepalives, then its end", "[gateway][e2b]") {
    namespace e2b = jaild::gateway::e2b;
    TenantsFile keys;
    const Headers acme = sdk(keys.create("acme"));
    KeyedStack stack(keys);
    const int port = stack.port();
    const auto made = post_json(port, "/v2/sandboxes", "{}", acme);
    REQUIRE(made.status == 201);
    const Headers headers{{"E2b-Sandbox-Id", text(made.json().at("sandboxID"))},
                          {"E2b-Sandbox-Port", "49983"},
                          {"X-Access-Token", text(made.json().at("envdAccessToken"))},
                          {"Content-Type", "application/connect+json"},
                          {"Connect-Protocol-Version", "1"},
                          {"Keepalive-Ping-Interval", "1"}};
    const std::string start =
        // Silent for 4 s: room for keepalives at 1 s even when a loaded machine answers the start late.
        e2b::encode_message(R"({"process":{"cmd":"/bin/sh","args":["-c","sleep 4; echo done"]},"stdin":false})");
    const auto response = http_request(port, "POST", "/process.Process/Start", start, headers);
    REQUIRE(response.status == 200);
    CHECK(response.header("content-type") == "application/connect+json");
    e2b::EnvelopeDecoder decoder(1 << 20);
    decoder.push(response.body);
    std::vector<e2b::Envelope> envelopes;
    for (auto next = decoder.next(); std::holds_alternative<e2b::Envelope>(next); next = decoder.next())
        envelopes.push_back(std::get<e2b::Envelope>(next));
    CHECK_FALSE(decoder.pending());
    REQUIRE(envelopes.size() >= 5);
    INFO(response.body);
    CHECK(json::parse(envelopes.front().data).at("event").as_object().contains("start"));
    int keepalives = 0;
    for (const auto& envelope : envelopes)
        if (envelope.data == R"({"event":{"keepalive":{}}})") ++keepalives;
    CHECK(keepalives >= 2);
    const json::value end = json::parse(envelopes[envelopes.size() - 2].data);
    CHECK(end.at("event").at("end").at("exitCode") == 0);
    CHECK(envelopes.back().flags == e2b::kFlagEndStream);
    CHECK(envelopes.back().data == "{}");
}

TEST_CASE("e2b envd: a command start is a run for the tenant's rate, refused as resource_exhausted past it",
          "[gateway][e2b][quotas]") {
    namespace e2b = jaild::gateway::e2b;
    TenantsFile keys;
    const Headers acme = sdk(keys.create("acme", {"--runs-per-minute", "2"}));
    KeyedStack stack(keys);
    const int port = stack.port();
    const auto made = post_json(port, "/v2/sandboxes", "{}", acme);
    REQUIRE(made.status == 201);
    const Headers headers{{"E2b-Sandbox-Id", text(made.json().at("sandboxID"))},
                          {"E2b-Sandbox-Port", "49983"},
                          {"X-Access-Token", text(made.json().at("envdAccessToken"))},
                          {"Content-Type", "application/connect+json"},
                          {"Connect-Protocol-Version", "1"}};
    const std::string start = e2b::encode_message(R"({"process":{"cmd":"/bin/true"},"stdin":false})");
    std::vector<std::string> ends;  // each stream's end-of-stream message
    for (int i = 0; i < 3; ++i) {
        const auto response = http_request(port, "POST", "/process.Process/Start", start, headers);
        REQUIRE(response.status == 200);
        e2b::EnvelopeDecoder decoder(1 << 20);
        decoder.push(response.body);
        std::string last;
        for (auto next = decoder.next(); std::holds_alternative<e2b::Envelope>(next); next = decoder.next())
            last = std::get<e2b::Envelope>(next).data;
        ends.push_back(last);
    }
    CHECK(ends[0] == "{}");
    CHECK(ends[1] == "{}");
    INFO(ends[2]);
    const json::value refused = json::parse(ends[2]);
    CHECK(refused.at("error").at("code") == "resource_exhausted");  // the SDK's RateLimitError
}

TEST_CASE("e2b envd: files over REST and filesystem RPCs, with envd's error codes", "[gateway][e2b]") {
    namespace e2b = jaild::gateway::e2b;
    TenantsFile keys;
    const Headers acme = sdk(keys.create("acme"));
    const Headers beta = sdk(keys.create("beta"));
    KeyedStack stack(keys, "[sessions]\nquota_kb = 1024\n");
    const int port = stack.port();
    const auto made = post_json(port, "/v2/sandboxes", "{}", acme);
    REQUIRE(made.status == 201);
    const std::string id = text(made.json().at("sandboxID"));
    const Headers envd{{"E2b-Sandbox-Id", id},
                       {"E2b-Sandbox-Port", "49983"},
                       {"X-Access-Token", text(made.json().at("envdAccessToken"))}};
    const auto with = [&](Headers headers, const std::string& name, const std::string& value) {
        headers[name] = value;
        return headers;
    };
    const auto check_rest_error = [](const HttpResponse& response, int status, const std::string& says) {
        INFO(response.body);
        CHECK(response.status == status);
        CHECK(response.json().at("code") == status);
        CHECK(text(response.json().at("message")).find(says) != std::string::npos);
    };

    // octet-stream up, then down again: a file past one 128 KiB chunk of jaild's, byte for byte.
    std::string big(300 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
    const Headers octet = with(envd, "Content-Type", "application/octet-stream");
    const auto put = http_request(port, "POST", "/files?path=%2Fhome%2Fuser%2Fd%2Fbig.bin", big, octet);
    INFO(put.body);
    REQUIRE(put.status == 200);
    CHECK(put.json() == json::parse(R"([{"name":"big.bin","type":"file","path":"/home/user/d/big.bin"}])"));
    const auto got = http_request(port, "GET", "/files?path=d/big.bin", "", envd);
    REQUIRE(got.status == 200);
    CHECK(got.header("content-type") == "application/octet-stream");
    CHECK(got.header("content-length") == std::to_string(big.size()));
    CHECK(got.body == big);

    // multipart: two files, their filenames as paths; the same path twice, a part not named "file".
    const auto multipart = [&](const std::vector<std::pair<std::string, std::string>>& parts,
                               const std::string& target = "/files") {
        std::string body;
        for (const auto& [disposition, content] : parts)
            body += "--bnd\r\nContent-Disposition: form-data; " + disposition +
                    "\r\nContent-Type: application/octet-stream\r\n\r\n" + content + "\r\n";
        body += "--bnd--\r\n";
        return http_request(port, "POST", target, body,
                            with(envd, "Content-Type", "multipart/form-data; boundary=bnd"));
    };
    const auto two = multipart(
        {{R"(name="file"; filename="m/a.txt")", "A"}, {R"(name="file"; filename="/home/user/m/b.txt")", "BB"}});
    INFO(two.body);
    REQUIRE(two.status == 200);
    CHECK(two.json().as_array().size() == 2);
    CHECK(http_request(port, "GET", "/files?path=m%2Fb.txt", "", envd).body == "BB");
    check_rest_error(multipart({{R"(name="file"; filename="x")", "1"}, {R"(name="file"; filename="x")", "2"}}), 400,
                     "given twice");
    check_rest_error(multipart({{R"(name="other"; filename="y")", "1"}}), 400, "must be named \"file\"");
    check_rest_error(multipart({{R"(name="file"; filename="/etc/z")", "1"}}), 403, "/home/user");

    // REST errors: not there, a directory, outside, no path, a bad user, a wrong token, another tenant's.
    check_rest_error(http_request(port, "GET", "/files?path=none", "", envd), 404, "no file");
    check_rest_error(http_request(port, "GET", "/files?path=%2Fhome%2Fuser%2Fd", "", envd), 400, "is a directory");
    check_rest_error(http_request(port, "GET", "/files?path=%2Fetc%2Fpasswd", "", envd), 403, "/home/user");
    check_rest_error(http_request(port, "GET", "/files?path=%2Ftmp%2Fx", "", envd), 403, "/tmp");
    check_rest_error(http_request(port, "POST", "/files", "x", octet), 400, "needs the path");
    check_rest_error(http_request(port, "GET", "/files?path=a&username=admin", "", envd), 401, "admin");
    const auto other = post_json(port, "/v2/sandboxes", "{}", beta);
    REQUIRE(other.status == 201);
    for (const std::string& token : {std::string("nope"), text(other.json().at("envdAccessToken"))}) {
        check_rest_error(http_request(port, "GET", "/files?path=d/big.bin", "", with(envd, "X-Access-Token", token)),
                         401, "unauthorized");
        check_rest_error(http_request(port, "POST", "/files?path=w", "x", with(octet, "X-Access-Token", token)), 401,
                         "unauthorized");
    }

    // Past the quota: 507 before a byte is written (octet-stream) or as the chunks come (multipart).
    const std::string huge(1100 * 1024, 'q');
    check_rest_error(http_request(port, "POST", "/files?path=huge.bin", huge, octet), 507, "quota");
    check_rest_error(multipart({{R"(name="file"; filename="huge.bin")", huge}}), 507, "quota of");
    check_rest_error(http_request(port, "GET", "/files?path=huge.bin", "", envd), 404, "no file");

    // The filesystem RPCs.
    const Headers rpc = with(with(envd, "Connect-Protocol-Version", "1"), "Content-Type", "application/json");
    const auto call = [&](const std::string& method, const std::string& body) {
        return http_request(port, "POST", "/filesystem.Filesystem/" + method, body, rpc);
    };
    const auto check_rpc_error = [](const HttpResponse& response, int status, const std::string& code) {
        INFO(response.body);
        CHECK(response.status == status);
        CHECK(text(response.json().at("code")) == code);
        CHECK_FALSE(text(response.json().at("message")).empty());
    };
    const auto made_dir = call("MakeDir", R"({"path":"/home/user/n/o"})");
    INFO(made_dir.body);
    REQUIRE(made_dir.status == 200);
    CHECK(text(made_dir.json().at("entry").at("type")) == "FILE_TYPE_DIRECTORY");
    CHECK(text(made_dir.json().at("entry").at("path")) == "/home/user/n/o");
    check_rpc_error(call("MakeDir", R"({"path":"n/o"})"), 409, "already_exists");
    check_rpc_error(call("MakeDir", R"({"path":"m/a.txt"})"), 400, "invalid_argument");
    check_rpc_error(call("MakeDir", R"({"path":"/usr/x"})"), 403, "permission_denied");
    const auto stat = call("Stat", R"({"path":"m/a.txt"})");
    REQUIRE(stat.status == 200);
    CHECK(text(stat.json().at("entry").at("size")) == "1");
    check_rpc_error(call("Stat", R"({"path":"none"})"), 404, "not_found");
    const auto listed = call("ListDir", R"({"path":"/home/user","depth":1})");
    REQUIRE(listed.status == 200);
    std::set<std::string> names;
    const json::value entries = listed.json().at("entries");
    for (const auto& entry : entries.as_array()) names.insert(text(entry.at("name")));
    CHECK(names == std::set<std::string>{"d", "m", "n", "x"});  // x: the first of the upload that named it twice
    check_rpc_error(call("ListDir", R"({"path":"m/a.txt"})"), 400, "invalid_argument");
    const auto moved = call("Move", R"({"source":"m/a.txt","destination":"/home/user/n/a.txt"})");
    REQUIRE(moved.status == 200);
    CHECK(text(moved.json().at("entry").at("path")) == "/home/user/n/a.txt");
    check_rpc_error(call("Move", R"({"source":"m/a.txt","destination":"q"})"), 404, "not_found");
    CHECK(call("Remove", R"({"path":"n"})").json() == json::parse("{}"));
    check_rpc_error(call("Remove", R"({"path":"n"})"), 404, "not_found");
    check_rpc_error(call("Remove", R"({"path":"/home/user"})"), 403, "permission_denied");
    check_rpc_error(call("Stat", R"({"path":3})"), 400, "invalid_argument");
    check_rpc_error(call("CreateWatcher", R"({"path":"d"})"), 501, "unimplemented");
    check_rpc_error(http_request(port, "POST", "/filesystem.Filesystem/Stat", R"({"path":"d"})",
                                 with(rpc, "Authorization", "Basic " + std::string("YWRtaW46"))),  // "admin:"
                    401, "unauthenticated");
    // WatchDir is a stream: 200 and a lone end-of-stream error.
    const auto watch =
        http_request(port, "POST", "/filesystem.Filesystem/WatchDir", e2b::encode_message(R"({"path":"d"})"),
                     with(envd, "Content-Type", "application/connect+json"));
    REQUIRE(watch.status == 200);
    e2b::EnvelopeDecoder decoder(1 << 20);
    decoder.push(watch.body);
    auto end = decoder.next();
    REQUIRE(std::holds_alternative<e2b::Envelope>(end));
    CHECK(text(json::parse(std::get<e2b::Envelope>(end).data).at("error").at("code")) == "unimplemented");
}
