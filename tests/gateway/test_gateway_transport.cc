// Transport details real clients meet: a request written in two pieces with Nagle's algorithm on (Python's
// httpx), names that are not UTF-8 in URLs and in listings, and /health when jaild refuses the
// gateway's user.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/skip.h"

using namespace jaild::test;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

using Clock = std::chrono::steady_clock;

// Median ms of `count` POSTs on one kept-alive connection with Nagle's algorithm on (no TCP_NODELAY), each
// written in `writes` pieces: one, or the head and then the body. The body is refused by the gateway without
// jaild (a wrong type), so the time is the gateway's and the network's alone.
double median_post_ms(int port, int writes, int count = 25) {
    asio::io_context context;
    asio::ip::tcp::socket socket(context);
    socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    const std::string body = R"({"command": 1})";
    const std::string head =
        "POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    boost::beast::flat_buffer buffer;
    std::vector<double> samples;
    for (int i = 0; i < count; ++i) {
        const auto start = Clock::now();
        if (writes == 1) {
            asio::write(socket, asio::buffer(head + body));
        } else {
            asio::write(socket, asio::buffer(head));
            asio::write(socket, asio::buffer(body));
        }
        http::response<http::string_body> response;
        http::read(socket, buffer, response);
        REQUIRE(response.result_int() == 400);
        samples.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

// httpx as OpenSandbox's and E2B's SDKs use it, unchanged, and a bare Python socket that writes the head and
// then the body (http.client would not do: it sets TCP_NODELAY). Prints {"client": median ms}.
constexpr const char* kPythonClients = R"PY(
import json, socket, statistics, sys, time
port, body, out = int(sys.argv[1]), b'{"command": 1}', {}
def median(post):
    samples = []
    for _ in range(25):
        start = time.perf_counter()
        assert post() == 400
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)
bare = socket.create_connection(("127.0.0.1", port))
assert bare.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
head = b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
def two_writes():
    bare.sendall(head)
    bare.sendall(body)
    data = b""
    while not data.endswith(b"}\n"):
        data += bare.recv(65536)
    return int(data.split()[1])
out["socket"] = median(two_writes)
try:
    import httpx
except ImportError:
    print("httpx not installed", file=sys.stderr)
else:
    with httpx.Client(base_url="http://127.0.0.1:%d" % port) as client:
        out["httpx"] = median(lambda: client.post("/run", content=body,
                                                  headers={"Content-Type": "application/json"}).status_code)
print(json.dumps(out))
)PY";

std::string run_python(const std::string& script, const std::string& args) {
    TempDir dir;
    const std::string path = dir.path() + "/client.py";
    std::ofstream(path) << script;
    FILE* pipe = ::popen(("/usr/bin/python3 " + path + " " + args + " 2>&1").c_str(), "r");
    REQUIRE(pipe);
    std::string output;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
    INFO(output);
    REQUIRE(::pclose(pipe) == 0);
    return output;
}

std::string error_of(const HttpResponse& response) { return std::string(response.json().at("error").as_string()); }

}  // namespace

TEST_CASE("gateway transport: a request written in two pieces with Nagle on is as fast as one write",
          "[gateway][transport]") {
    Stack stack;
    // Linux delays an ACK up to 40 ms; a client whose second write waits for that ACK shows it on every request.
    const double one = median_post_ms(stack.port(), 1);
    const double two = median_post_ms(stack.port(), 2);
    INFO("one write: " << one << " ms, head and body apart: " << two << " ms");
    CHECK(one < 10);
    CHECK(two < 10);

    const std::string output = run_python(kPythonClients, std::to_string(stack.port()));
    INFO(output);
    const json::object medians = json::parse(output.substr(output.rfind('{'))).as_object();
    CHECK(medians.at("socket").to_number<double>() < 10);
    if (medians.contains("httpx")) {
        CHECK(medians.at("httpx").to_number<double>() < 10);
    } else {
        skip("python3-httpx is not installed (scripts/bootstrap installs it); a bare socket was measured");
    }
}

TEST_CASE("gateway transport: URL names must be UTF-8, a program's non-UTF-8 file names list as JSON",
          "[gateway][transport]") {
    Stack stack;
    auto response = post_json(stack.port(), "/sessions", "{}");
    REQUIRE(response.status == 201);
    const std::string id(response.json().at("session_id").as_string());

    // Invalid UTF-8 once percent-decoded: 400 naming the field, before anything reaches jaild.
    response = http_request(stack.port(), "PUT", "/sessions/" + id + "/files/a%C0%AFb", "data");
    CHECK(response.status == 400);
    CHECK(response.json().at("field") == "path");
    CHECK(error_of(response) == "the file path in the URL is not UTF-8 once percent-decoded");
    for (const char* method : {"GET", "DELETE"}) {
        response = http_request(stack.port(), method, "/sessions/" + id + "/files/dir/%FF.txt");
        CHECK(response.status == 400);
        CHECK(response.json().at("field") == "path");
    }
    response = http_request(stack.port(), "GET", "/sessions/%C3%28/files");
    CHECK(response.status == 400);
    CHECK(response.json().at("field") == "session_id");
    CHECK(error_of(response) == "the session id in the URL is not UTF-8 once percent-decoded");
    response = post_json(stack.port(), "/sessions/%ED%A0%80/run", R"({"command":["/bin/true"]})");
    CHECK(response.status == 400);
    CHECK(response.json().at("field") == "session_id");
    // A UTF-8 name goes through.
    response = http_request(stack.port(), "PUT", "/sessions/" + id + "/files/d%C3%A9j%C3%A0.txt", "vu");
    CHECK(response.status == 201);
    CHECK(response.json().at("path") == "déjà.txt");

    // A program names a file with bytes that are not UTF-8 (0xC0 0xAF, an overlong '/'), and one that is.
    response = post_json(stack.port(), "/sessions/" + id + "/run",
                         R"({"command":["/bin/sh","-c","printf x > \"$(printf 'a\\300\\257b')\"; printf y > ok"]})");
    REQUIRE(response.status == 200);
    REQUIRE(response.json().at("exit_code") == 0);
    response = http_request(stack.port(), "GET", "/sessions/" + id + "/files");
    REQUIRE(response.status == 200);
    const json::array files = response.json().at("files").as_array();  // valid JSON, parsed strictly
    bool seen = false;
    for (const json::value& file : files) {
        if (file.at("path") !=
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b") {
            CHECK(!file.as_object().contains("path_base64"));
            continue;
        }
        seen = true;
        CHECK(file.at("path_base64") == "YcCvYg==");  // the exact name: 'a' 0xC0 0xAF 'b'
        CHECK(file.at("size") == 1);
    }
    CHECK(seen);
    CHECK(files.size() == 3);

    // Seed 002's workspace_files lists it the same way.
    response = post_json(stack.port(), "/run",
                         R"({"user_id":"utf8-user","code":"open(b'n\\xff', 'w').write('z')\nresult = 1"})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("result") == 1);
    CHECK(json::serialize(response.json().at("workspace_files")) == "[\"n\xEF\xBF\xBD\"]");
}

TEST_CASE("gateway transport: /health asks jaild, and a gateway jaild refuses is told so", "[gateway][transport]") {
    constexpr uid_t kNobody = 65534;
    const std::string run = R"({"command":["/bin/true"]})";
    {
        // The socket's permissions keep the gateway out (it is not in the socket's group).
        Daemon daemon;
        GatewayProcess gateway(daemon.socket(), {}, kNobody);
        auto response = http_request(gateway.port(), "GET", "/health");
        CHECK(response.status == 503);
        CHECK(response.json().at("status") == "unhealthy");
        CHECK(error_of(response).rfind("jaild refused the gateway: Permission denied", 0) == 0);
        CHECK(response.headers.count("retry-after") == 0);  // no retry mends it
        response = post_json(gateway.port(), "/run", run);
        CHECK(response.status == 502);
        CHECK(error_of(response).rfind("jaild refused the gateway: Permission denied", 0) == 0);
        CHECK(response.headers.count("retry-after") == 0);
    }
    {
        // The socket lets everyone connect, and jaild refuses the gateway's uid itself.
        Daemon daemon("", "socket_mode = 0o666");
        GatewayProcess gateway(daemon.socket(), {}, kNobody);
        auto response = http_request(gateway.port(), "GET", "/health");
        CHECK(response.status == 503);
        CHECK(error_of(response).rfind("jaild refused the gateway: uid 65534 is not allowed to use jaild", 0) == 0);
        CHECK(response.headers.count("retry-after") == 0);
        response = post_json(gateway.port(), "/run", run);
        CHECK(response.status == 502);
        CHECK(error_of(response) ==
              "uid 65534 is not allowed to use jaild: add it to the socket's group (server.socket_group) or to "
              "server.allowed_uids");
        CHECK(daemon.log().find("refused peer") != std::string::npos);
    }
    {
        // Allowed, the same gateway user is healthy and runs.
        Daemon daemon("", "socket_mode = 0o666\nallowed_uids = [65534]");
        GatewayProcess gateway(daemon.socket(), {}, kNobody);
        auto response = http_request(gateway.port(), "GET", "/health");
        CHECK(response.status == 200);
        CHECK(json::serialize(response.json()) == R"({"status":"healthy"})");
        CHECK(post_json(gateway.port(), "/run", run).status == 200);
        // jaild stopped: unreachable, which a retry may mend.
        daemon.terminate();
        response = http_request(gateway.port(), "GET", "/health");
        CHECK(response.status == 503);
        CHECK(error_of(response).rfind("jaild unreachable: ", 0) == 0);
        CHECK(response.header("retry-after") == "1");
    }
}
