// Hostile clients of the real HTTP API, of jailctl and of jaild's Unix socket: path traversal, oversized and
// malformed requests, slow and numerous connections, a dying jaild, garbage frames, out-of-range limits.
// Each attack must get the documented clear answer, and the host, jaild and the gateway must be unharmed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "tests/support/fortress.h"

namespace jaild::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace json = boost::json;

namespace {

// The `field` of an error answer: the field's name, "<null>", or "<none>" when the body is no error object.
std::string error_field(const HttpResponse& response) {
    json::error_code ec;
    const json::value body = json::parse(response.body, ec);
    if (ec || !body.is_object() || !body.as_object().contains("error")) return "<none>";
    const json::value& field = body.as_object().at("field");
    if (field.is_null()) return "<null>";
    return field.is_string() ? std::string(field.as_string()) : "<odd>";
}

std::string error_text(const HttpResponse& response) {
    json::error_code ec;
    const json::value body = json::parse(response.body, ec);
    if (ec || !body.is_object()) return "<none>";
    const json::value* error = body.as_object().if_contains("error");
    return error && error->is_string() ? std::string(error->as_string()) : "<none>";
}

std::string create_session(Fortress& fortress) {
    const HttpResponse created = http_request(fortress.port(), "POST", "/sessions");
    REQUIRE(created.status == 201);
    return std::string(created.json().at("session_id").as_string());
}

long count_fds(pid_t pid) {
    long n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != std::filesystem::end(it); it.increment(ec))
        ++n;
    return n;
}

// A Unix socket served by a thread that answers each connection with `answer` (then closes it, or holds it open
// for `hold`).
class FakeServer {
public:
    FakeServer(const std::string& path, std::string answer, std::chrono::milliseconds hold = 0ms)
        : path_(path), answer_(std::move(answer)), hold_(hold) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd_, 16) == 0);
        thread_ = std::thread([this] {
            for (;;) {
                pollfd pfd{fd_, POLLIN, 0};
                if (stop_) return;
                if (::poll(&pfd, 1, 100) != 1) continue;
                const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
                if (client < 0) continue;
                ++accepted_;
                send_all(client, answer_);
                const auto until = Clock::now() + hold_;
                while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(20ms);
                ::close(client);
            }
        });
    }
    ~FakeServer() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    int accepted() const { return accepted_; }

private:
    std::string path_, answer_;
    std::chrono::milliseconds hold_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

std::string random_bytes(std::size_t n) {
    std::string bytes(n, '\0');
    REQUIRE(::getrandom(bytes.data(), n, 0) == static_cast<ssize_t>(n));
    return bytes;
}

std::string be32(std::uint32_t n) {
    return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
}

// Waits until jaild closes `connection` (EOF, possibly after an Error frame); false on a timeout.
bool closed_by_jaild(Connection& connection, std::chrono::milliseconds within, std::string& saw) {
    const auto deadline = Clock::now() + within;
    for (;;) {
        char buffer[4096];
        pollfd pfd{connection.fd(), POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        if (::poll(&pfd, 1, static_cast<int>(left)) != 1) return false;
        const ssize_t n = ::recv(connection.fd(), buffer, sizeof buffer, 0);
        if (n <= 0) return true;
        saw.append(buffer, static_cast<std::size_t>(n));
    }
}

}  // namespace

TEST_CASE("api: traversal in session file paths is refused", "[security][api]") {
    Fortress fortress;
    const std::string id = create_session(fortress);
    const std::string files = "/sessions/" + id + "/files/";
    REQUIRE(http_request(fortress.port(), "PUT", files + "inside.txt", "MARK inside").status == 201);
    const HttpResponse inside = http_request(fortress.port(), "GET", files + "inside.txt");
    REQUIRE(inside.status == 200);
    REQUIRE(inside.body == "MARK inside");

    const std::string canary = fortress.canary_file();  // absolute: /tmp/...
    std::string seen;
    // Traversal that jaild refuses (the gateway passes the decoded path on): 400, field "path".
    for (const std::string& path : std::vector<std::string>{
             "../../etc/passwd", "../../../../../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd",
             "%2e%2e/%2e%2e/%2e%2e/etc/passwd", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/etc/passwd",
             "%2Fetc%2Fpasswd", "inside.txt/../../../etc/passwd", "sub/%2E%2E/%2E%2E/etc/shadow", "..", "%2e%2e",
             "../../../../../../.." + canary, "%2F" + canary.substr(1)}) {
        INFO("GET " << path);
        const HttpResponse got = http_request(fortress.port(), "GET", files + path);
        seen += got.body;
        CHECK(got.status == 400);
        CHECK(error_field(got) == "path");
        CHECK(got.body.find("root:") == std::string::npos);
    }
    // What the gateway refuses itself: bad percent-encoding, NUL, empty.
    for (const std::string& path : std::vector<std::string>{"%zz", "a%00b", "%2e%2e%00/etc/passwd", "%", ""}) {
        INFO("GET " << path);
        const HttpResponse got = http_request(fortress.port(), "GET", files + path);
        seen += got.body;
        CHECK(got.status == 400);
    }
    // Writing and deleting through traversal: refused, nothing lands on (or leaves) the host.
    for (const std::string& path :
         std::vector<std::string>{"../../../../../../.." + fortress.canary_dir() + "/planted",
                                  "%2F" + fortress.canary_dir().substr(1) + "%2Fplanted",
                                  "..%2F..%2F..%2F..%2F..%2F..%2Ftmp%2Fplanted-by-test-api"}) {
        INFO("PUT/DELETE " << path);
        const HttpResponse put = http_request(fortress.port(), "PUT", files + path, "planted");
        CHECK(put.status == 400);
        CHECK(error_field(put) == "path");
        const HttpResponse del = http_request(fortress.port(), "DELETE", files + path);
        CHECK(del.status == 400);
    }
    const HttpResponse del_canary = http_request(fortress.port(), "DELETE", files + "../../../../../../../.." + canary);
    CHECK(del_canary.status == 400);
    CHECK(!std::filesystem::exists("/tmp/planted-by-test-api"));
    // A symlink planted by sandboxed code is not followed either.
    const HttpResponse session_run =
        post_json(fortress.port(), "/sessions/" + id + "/run",
                  R"({"command": ["/bin/sh", "-c", "ln -s /etc/passwd link; ln -s / root; echo planted"]})");
    REQUIRE(session_run.status == 200);
    CHECK(session_run.json().at("stdout") == "planted\n");
    for (const std::string& path : std::vector<std::string>{"link", "root/etc/passwd", "root%2Fetc%2Fpasswd"}) {
        INFO("GET " << path);
        const HttpResponse got = http_request(fortress.port(), "GET", files + path);
        seen += got.body;
        CHECK(got.status == 400);
        CHECK(error_field(got) == "path");
        CHECK(got.body.find("root:") == std::string::npos);
    }
    check_host_unharmed(fortress, seen);
}

TEST_CASE("api: traversal in session ids is not found, never a path", "[security][api]") {
    Fortress fortress;
    const std::string id = create_session(fortress);
    std::string seen;
    for (const std::string& bad : std::vector<std::string>{"..", "%2e%2e", "..%2F..%2Fetc", "%2F", id + "%2F..%2F" + id,
                                                           id + "%00", "../" + id, id.substr(0, 10)}) {
        INFO("session " << bad);
        const HttpResponse info = http_request(fortress.port(), "GET", "/sessions/" + bad);
        seen += info.body;
        CHECK((info.status == 404 || info.status == 400));
        const HttpResponse file = http_request(fortress.port(), "GET", "/sessions/" + bad + "/files/meta.json");
        seen += file.body;
        CHECK((file.status == 404 || file.status == 400));
        const HttpResponse run =
            post_json(fortress.port(), "/sessions/" + bad + "/run", R"({"command": ["/bin/true"]})");
        CHECK((run.status == 404 || run.status == 400));
        const HttpResponse del = http_request(fortress.port(), "DELETE", "/sessions/" + bad);
        CHECK((del.status == 404 || del.status == 400));
    }
    // The real session survived all of that.
    CHECK(http_request(fortress.port(), "GET", "/sessions/" + id).status == 200);
    check_host_unharmed(fortress, seen);
}

TEST_CASE("api: traversal in execute files and in cwd is refused", "[security][api]") {
    Fortress fortress;
    const Attack ok =
        fortress.execute("python", "print('MARK', open('data.txt').read())", R"("files": {"data.txt": "x"})");
    REQUIRE(ok.status == "ok");
    REQUIRE(ok.out == "MARK x\n");
    for (const std::string& name :
         std::vector<std::string>{"../escape.txt", "../../../../etc/cron.d/x", "/etc/passwd", "a/../../b",
                                  "sub/../../x", "./../x", "", "a//b", "..", fortress.canary_dir() + "/planted"}) {
        INFO("file " << name);
        const Attack refused = fortress.execute("python", "print('ran')",
                                                "\"files\": {" + json::serialize(json::string(name)) + ": \"x\"}");
        CHECK(refused.response.status == 400);
        CHECK(error_field(refused.response) == "files");
        CHECK(refused.out.empty());
    }
    // A name that only looks encoded is a literal file name inside the workspace: harmless.
    const Attack literal =
        fortress.execute("python", "import os; print(sorted(os.listdir('.')))", R"("files": {"%2e%2e%2fx": "y"})");
    CHECK(literal.status == "ok");
    CHECK(literal.out.find("'%2e%2e%2fx'") != std::string::npos);
    // /run has no files at all.
    const Attack run_files = fortress.run({"/bin/true"}, R"("files": {"../x": "y"})");
    CHECK(run_files.response.status == 400);
    CHECK(error_field(run_files.response) == "files");

    for (const std::string& cwd :
         std::vector<std::string>{"../etc", "etc", "/workspace/../etc/..", "/tmp/./x", "//etc", "/workspace/"}) {
        INFO("cwd " << cwd);
        const Attack refused = fortress.run({"/bin/pwd"}, "\"cwd\": " + json::serialize(json::string(cwd)));
        CHECK(refused.response.status == 400);
        CHECK(error_field(refused.response) == "cwd");
    }
    const std::string id = create_session(fortress);
    const HttpResponse session_cwd =
        post_json(fortress.port(), "/sessions/" + id + "/cwd", R"({"cwd": "/workspace/../../etc"})");
    CHECK(session_cwd.status == 400);
    CHECK(error_field(session_cwd) == "cwd");
    // An absolute normalised cwd outside /workspace is the sandbox's own directory, not the host's.
    const Attack etc = fortress.sh("pwd; ls /etc | grep -c . ; cat /etc/hostname", R"("cwd": "/etc")");
    CHECK(etc.status == "ok");
    CHECK(etc.out.rfind("/etc\n", 0) == 0);
    CHECK(etc.out.find(fortress.baseline().at("/etc/hostname")) == std::string::npos);
    check_host_unharmed(fortress, ok.out + literal.out + etc.out);
}

TEST_CASE("api: an oversized body gets 413 (an upload past the quota 507), even when only announced",
          "[security][api]") {
    Fortress fortress;
    const std::string big = R"({"command": ["/bin/echo", ")" + std::string(2 * 1024 * 1024, 'B') + "\"]}";
    const HttpResponse run = post_json(fortress.port(), "/run", big);
    CHECK(run.status == 413);
    CHECK(error_text(run) != "<none>");
    const std::string id = create_session(fortress);
    // A file upload is held to the session's quota, not to the body limit: past the limit it is written, and
    // one announcing 10 GiB is refused at once (507), its body never waited for.
    const HttpResponse upload =
        http_request(fortress.port(), "PUT", "/sessions/" + id + "/files/big.bin", std::string(1100 * 1024, 'U'));
    CHECK(upload.status == 201);
    RawConnection huge(fortress.port());
    auto started = Clock::now();
    huge.send("PUT /sessions/" + id + "/files/huge.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n\r\n");
    bool huge_closed = false;
    CHECK(huge.receive_all(5s, huge_closed).rfind("HTTP/1.1 507", 0) == 0);
    CHECK(huge_closed);
    CHECK(Clock::now() - started < 3s);
    // Content-Length of 10 GiB, body never sent: refused at once, not waited for.
    RawConnection announced(fortress.port());
    started = Clock::now();
    announced.send(
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{");
    bool closed = false;
    const std::string answer = announced.receive_all(5s, closed);
    CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(closed);
    CHECK(Clock::now() - started < 3s);
    // Chunked, growing past the limit.
    RawConnection chunked(fortress.port());
    chunked.send(
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk(256 * 1024, 'C');
    for (int i = 0; i < 8 && chunked.send("40000\r\n" + chunk + "\r\n"); ++i) {
    }
    const std::string chunked_answer = chunked.receive_all(5s, closed);
    CHECK(chunked_answer.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(sandbox_processes().empty());
    check_host_unharmed(fortress);
}

TEST_CASE("api: deeply nested JSON gets a clear 400 and no crash", "[security][api]") {
    Fortress fortress;
    for (const std::string& body : std::vector<std::string>{
             std::string(100000, '['), std::string(100000, '[') + std::string(100000, ']'),
             "{\"command\": " + std::string(50000, '[') + "\"/bin/true\"" + std::string(50000, ']') + "}",
             [] {
                 std::string s;
                 for (int i = 0; i < 30000; ++i) s += "{\"a\":";
                 s += "1";
                 for (int i = 0; i < 30000; ++i) s += "}";
                 return s;
             }(),
             "{\"command\": [\"/bin/true\"], \"env\": " + std::string(60000, '{') + "}"}) {
        INFO(body.substr(0, 60));
        const HttpResponse answer = post_json(fortress.port(), "/run", body);
        CHECK(answer.status == 400);
        CHECK(error_text(answer) != "<none>");
        const HttpResponse execute = post_json(fortress.port(), "/execute", body);
        CHECK(execute.status == 400);
    }
    // Nested data in seed 002's `data` (passed on to Python as variables) is refused or handled, never a crash.
    const HttpResponse data = post_json(fortress.port(), "/run",
                                        R"({"user_id": "nest", "code": "result = 1", "data": {"x": )" +
                                            std::string(5000, '[') + std::string(5000, ']') + "}}");
    CHECK(data.status != 0);
    CHECK(data.status < 500);
    check_host_unharmed(fortress);
}

TEST_CASE("api: invalid UTF-8 in code, command and env is refused as not JSON", "[security][api]") {
    Fortress fortress;
    const std::string bad = "\xff\xfe\xc3\x28\xed\xa0\x80";
    for (const std::string& body :
         std::vector<std::string>{"{\"command\": [\"/bin/echo\", \"" + bad + "\"]}",
                                  "{\"command\": [\"/bin/true\"], \"env\": {\"A\": \"" + bad + "\"}}",
                                  "{\"command\": [\"/bin/true\"], \"env\": {\"" + bad + "\": \"v\"}}",
                                  "{\"command\": [\"/bin/true\"], \"cwd\": \"/tmp/" + bad + "\"}"}) {
        const HttpResponse answer = post_json(fortress.port(), "/run", body);
        CHECK(answer.status == 400);
        CHECK(error_text(answer) != "<none>");
    }
    const HttpResponse code =
        post_json(fortress.port(), "/execute", "{\"language\": \"python\", \"code\": \"print('" + bad + "')\"}");
    CHECK(code.status == 400);
    // Escaped lone surrogates are valid JSON syntax but not Unicode text: refused like invalid UTF-8.
    const HttpResponse surrogate =
        post_json(fortress.port(), "/run", R"({"command": ["/bin/echo", "MARK \ud800 \udfff"]})");
    INFO(surrogate.body);
    CHECK(surrogate.status == 400);
    CHECK(error_text(surrogate).find("not valid JSON") != std::string::npos);
    // Output that is not UTF-8 comes back as U+FFFD in valid JSON, or exactly in base64.
    const Attack out = fortress.sh("printf 'MARK \\377\\376\\n'");
    CHECK(out.status == "ok");
    CHECK(out.out == "MARK \xEF\xBF\xBD\xEF\xBF\xBD\n");
    const Attack out64 = fortress.sh("printf 'MARK \\377\\376\\n'", R"("encoding": "base64")");
    CHECK(out64.out == "TUFSSyD//go=");
    // jailctl cannot send non-UTF-8 argv in a protobuf string: it fails with its own exit code, jaild survives.
    const Jailctl ctl = fortress.jailctl({"run", "--", "/bin/echo", "MARK " + bad});
    INFO(ctl.err);
    CHECK(ctl.exit_code == 125);  // jailctl or jaild failed, not the program
    CHECK(ctl.out.empty());
    check_host_unharmed(fortress, out.out + ctl.out);
}

TEST_CASE("api: NUL bytes in argv, env, cwd, files and paths are refused", "[security][api]") {
    Fortress fortress;
    const struct {
        std::string body, field;
    } cases[] = {
        {R"({"command": ["/bin/echo", "a\u0000b"]})", "command"},
        {R"({"command": ["/bin/ech\u0000o"]})", "command"},
        {R"({"command": ["/bin/true"], "env": {"A": "x\u0000y"}})", "env"},
        {R"({"command": ["/bin/true"], "env": {"A\u0000B": "x"}})", "env"},
        {R"({"command": ["/bin/true"], "cwd": "/tmp\u0000/../etc"})", "cwd"},
    };
    for (const auto& c : cases) {
        INFO(c.body);
        const HttpResponse answer = post_json(fortress.port(), "/run", c.body);
        CHECK(answer.status == 400);
        CHECK(error_field(answer).rfind(c.field, 0) == 0);
    }
    const HttpResponse file =
        post_json(fortress.port(), "/execute", R"({"language": "python", "code": "pass", "files": {"a\u0000b": "x"}})");
    CHECK(file.status == 400);
    CHECK(error_field(file) == "files");
    const HttpResponse args =
        post_json(fortress.port(), "/execute", R"({"language": "python", "code": "pass", "args": ["a\u0000b"]})");
    CHECK(args.status == 400);
    CHECK(error_field(args) == "args");
    const std::string id = create_session(fortress);
    CHECK(http_request(fortress.port(), "GET", "/sessions/" + id + "/files/a%00b").status == 400);
    CHECK(http_request(fortress.port(), "PUT", "/sessions/" + id + "/files/x%00..%2F..%2Fetc", "y").status == 400);
    const HttpResponse env = post_json(fortress.port(), "/sessions/" + id + "/env", R"({"env": {"A": "x\u0000"}})");
    CHECK(env.status == 400);
    // In stdin a NUL is just a byte: it arrives intact.
    const Attack stdin_nul = fortress.run({"/bin/od", "-An", "-c"}, R"("stdin": "MARK\u0000X")");
    CHECK(stdin_nul.status == "ok");
    CHECK(stdin_nul.out.find("M   A   R   K  \\0   X") != std::string::npos);
    check_host_unharmed(fortress, stdin_nul.out);
}

TEST_CASE("api: giant and numerous headers get 431, normal requests go on", "[security][api]") {
    Fortress fortress;
    bool closed = false;
    {
        RawConnection giant(fortress.port());
        giant.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'h') + "\r\n\r\n");
        const std::string answer = giant.receive_all(5s, closed);
        CHECK(answer.rfind("HTTP/1.1 431", 0) == 0);
        CHECK(closed);
    }
    {
        std::string many = "POST /run HTTP/1.1\r\nHost: x\r\n";
        for (int i = 0; i < 5000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
        RawConnection numerous(fortress.port());
        numerous.send(many + "\r\n");
        const std::string answer = numerous.receive_all(5s, closed);
        CHECK(answer.rfind("HTTP/1.1 431", 0) == 0);
        CHECK(closed);
    }
    {
        // A header that never ends (no CRLF), 1 MiB of it: cut at the limit, not buffered forever.
        RawConnection endless(fortress.port());
        endless.send("GET /health HTTP/1.1\r\nX-Endless: ");
        const std::string chunk(64 * 1024, 'e');
        for (int i = 0; i < 16 && endless.send(chunk); ++i) {
        }
        const std::string answer = endless.receive_all(5s, closed);
        CHECK(answer.rfind("HTTP/1.1 431", 0) == 0);
    }
    // Many small headers below the limit are fine, and reach a real run.
    Headers headers;
    for (int i = 0; i < 300; ++i) headers["X-Small-" + std::to_string(i)] = "v";
    const HttpResponse fine =
        post_json(fortress.port(), "/run", R"({"command": ["/bin/echo", "MARK headers"]})", headers);
    CHECK(fine.status == 200);
    CHECK(fine.json().at("stdout") == "MARK headers\n");
    check_host_unharmed(fortress);
}

TEST_CASE("api: slowloris clients through the whole stack start no job and do not delay runs", "[security][api]") {
    Fortress fortress;
    TempDir dir;
    const std::string config = dir.path() + "/gateway.toml";
    std::ofstream(config) << "[gateway]\nheader_timeout_ms = 1500\nbody_timeout_ms = 1500\nidle_timeout_ms = 3000\n";
    GatewayProcess gateway(fortress.socket(), {"--config", config});
    REQUIRE(http_request(gateway.port(), "GET", "/health").status == 200);
    std::this_thread::sleep_for(300ms);
    const long baseline_fds = count_fds(gateway.pid());

    std::vector<std::unique_ptr<RawConnection>> slow_headers, slow_bodies;
    for (int i = 0; i < 100; ++i) {
        slow_headers.push_back(std::make_unique<RawConnection>(gateway.port()));
        slow_headers.back()->send("POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    }
    const std::string body = R"({"command": ["/bin/sh", "-c", "echo slow body ran"]})";
    for (int i = 0; i < 50; ++i) {
        slow_bodies.push_back(std::make_unique<RawConnection>(gateway.port()));
        slow_bodies.back()->send("POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, body.size() - 1));
    }
    std::this_thread::sleep_for(300ms);
    CHECK(sandbox_processes().empty());  // no request is complete: no job
    for (int i = 0; i < 3; ++i) {
        const HttpResponse run = post_json(gateway.port(), "/run", R"({"command": ["/bin/echo", "MARK fast"]})");
        CHECK(run.status == 200);
        CHECK(run.json().at("stdout") == "MARK fast\n");
        CHECK(run.elapsed < 3s);
    }
    bool closed = false;
    int timed_out = 0;
    for (auto& connection : slow_headers) {
        const std::string answer = connection->receive_all(4s, closed);
        if (answer.rfind("HTTP/1.1 408", 0) == 0 && closed) ++timed_out;
    }
    for (auto& connection : slow_bodies) {
        const std::string answer = connection->receive_all(4s, closed);
        if (answer.rfind("HTTP/1.1 408", 0) == 0 && closed) ++timed_out;
        CHECK(answer.find("slow body ran") == std::string::npos);
    }
    CHECK(timed_out == 150);
    slow_headers.clear();
    slow_bodies.clear();
    CHECK(wait_until([&] { return count_fds(gateway.pid()) <= baseline_fds; }, 5s));
    check_host_unharmed(fortress);
}

TEST_CASE("api: 2000 connections at once are refused over the limit with 503, then all is served again",
          "[security][api]") {
    Fortress fortress;  // the gateway's default max_connections: 1024
    REQUIRE(http_request(fortress.port(), "GET", "/health").status == 200);
    std::this_thread::sleep_for(300ms);
    const pid_t gateway = fortress.stack.gateway.pid();
    const long baseline_fds = count_fds(gateway);
    constexpr int kSockets = 2000;
    std::vector<int> fds;
    for (int i = 0; i < kSockets; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(fortress.port()));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            ::close(fd);
            continue;
        }
        fds.push_back(fd);
    }
    INFO("connected " << fds.size());
    CHECK(fds.size() >= 1900);
    // Collect what the gateway says to each within 5 s: the refused get 503 and are closed.
    std::vector<std::string> answers(fds.size());
    std::vector<bool> done(fds.size(), false);
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
        std::vector<pollfd> polls;
        std::vector<std::size_t> index;
        for (std::size_t i = 0; i < fds.size(); ++i)
            if (!done[i]) {
                polls.push_back({fds[i], POLLIN, 0});
                index.push_back(i);
            }
        if (polls.empty() || ::poll(polls.data(), polls.size(), 200) <= 0) continue;
        for (std::size_t k = 0; k < polls.size(); ++k) {
            if (!(polls[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buffer[4096];
            const ssize_t n = ::recv(polls[k].fd, buffer, sizeof buffer, 0);
            if (n <= 0)
                done[index[k]] = true;
            else
                answers[index[k]].append(buffer, static_cast<std::size_t>(n));
        }
    }
    int refused = 0, other = 0;
    for (const std::string& answer : answers) {
        if (answer.rfind("HTTP/1.1 503", 0) == 0 && answer.find("too many connections") != std::string::npos)
            ++refused;
        else if (!answer.empty())
            ++other;
    }
    WARN("2000 connections: " << fds.size() << " connected, " << refused << " refused with 503, " << other
                              << " other answers; gateway fds while held: " << count_fds(gateway));
    CHECK(refused >= static_cast<int>(fds.size()) - 1024);
    CHECK(refused <= static_cast<int>(fds.size()) - 1000);
    CHECK(other == 0);
    CHECK(count_fds(gateway) < baseline_fds + 1100);
    // jaild is not touched by idle HTTP connections: a run through the Unix socket works meanwhile.
    const RunResult direct = run_sh(fortress.socket(), "echo MARK direct");
    CHECK(direct.out == "MARK direct\n");
    for (int fd : fds) ::close(fd);
    CHECK(wait_until([&] { return http_request(fortress.port(), "GET", "/health").status == 200; }, 5s));
    const Attack after = fortress.run({"/bin/echo", "MARK after"});
    CHECK(after.out == "MARK after\n");
    CHECK(wait_until([&] { return count_fds(gateway) <= baseline_fds; }, 10s));
    check_host_unharmed(fortress);
}

TEST_CASE("api: after jaild is killed the gateway answers clear 5xx JSON, and serves a new jaild", "[security][api]") {
    Fortress fortress;
    TempDir dir;
    const std::string socket = dir.path() + "/jaild.sock";
    // Both jailds keep their sessions in the same place, as a restarted jaild would.
    const std::string state = "[sessions]\nstate_dir = \"" + dir.path() + "/state\"\n";
    auto daemon = std::make_unique<Daemon>(Daemon::AtSocket{socket}, state);
    GatewayProcess gateway(socket);
    const std::string id = [&] {
        const HttpResponse created = http_request(gateway.port(), "POST", "/sessions");
        REQUIRE(created.status == 201);
        return std::string(created.json().at("session_id").as_string());
    }();
    // A hostile run with 20 children in flight when jaild dies.
    auto pending = std::async(std::launch::async, [&] {
        return post_json(
            gateway.port(), "/run",
            R"({"command": ["/bin/sh", "-c", "echo MARK; for i in $(seq 20); do sleep 60 & done; wait"]})");
    });
    REQUIRE(wait_until([] { return sandbox_processes().size() >= 20; }, 10s));
    daemon->kill9();
    REQUIRE(pending.wait_for(10s) == std::future_status::ready);
    const HttpResponse cut = pending.get();
    REQUIRE(cut.status == 200);
    CHECK(cut.json().at("status") == "internal_error");
    CHECK(cut.json().at("stdout") == "MARK\n");
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 5s));  // PDEATHSIG and the PID namespace

    const struct {
        const char* method;
        std::string target, body;
    } requests[] = {
        {"POST", "/run", R"({"command": ["/bin/true"]})"},
        {"POST", "/execute", R"({"language": "python", "code": "pass"})"},
        {"POST", "/sessions", ""},
        {"GET", "/sessions/" + id, ""},
        {"POST", "/sessions/" + id + "/run", R"({"command": ["/bin/true"]})"},
        {"GET", "/sessions/" + id + "/files/x", ""},
        {"GET", "/languages", ""},
        {"GET", "/health", ""},
    };
    for (const auto& r : requests) {
        INFO(r.method << " " << r.target);
        const HttpResponse answer = r.body.empty() ? http_request(gateway.port(), r.method, r.target, "", {}, 10s)
                                                   : http_request(gateway.port(), r.method, r.target, r.body,
                                                                  {{"Content-Type", "application/json"}}, 10s);
        CHECK(answer.status == 503);
        CHECK(answer.elapsed < 3s);
        CHECK(answer.header("retry-after") == "1");
        CHECK(answer.json().is_object());
        CHECK(answer.json().as_object().contains("error"));
    }
    daemon = std::make_unique<Daemon>(Daemon::AtSocket{socket}, state);
    CHECK(wait_until([&] { return http_request(gateway.port(), "GET", "/health").status == 200; }, 5s));
    const HttpResponse again = post_json(gateway.port(), "/run", R"({"command": ["/bin/echo", "MARK back"]})");
    REQUIRE(again.status == 200);
    CHECK(again.json().at("stdout") == "MARK back\n");
    CHECK(http_request(gateway.port(), "GET", "/sessions/" + id).status == 200);  // sessions survive kill -9
    check_nothing_left(daemon->run_dir(), daemon->pid());
    check_host_unharmed(fortress, cut.body);
}

TEST_CASE("api: a client that disconnects mid-stream or mid-run cancels its job", "[security][api]") {
    Fortress fortress;
    for (int round = 0; round < 3; ++round) {
        RawConnection client(fortress.port());
        const std::string body =
            round == 2
                ? R"({"command": ["/bin/sh", "-c", "echo MARK; sleep 60"], "wall": 60000})"
                : R"({"command": ["/usr/bin/yes", "MARK flood"], "stream": true, "output": 67108864, "wall": 60000})";
        client.send("POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body);
        REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 10s));
        bool closed = false;
        const std::string part = client.receive_all(round == 1 ? 50ms : 700ms, closed);
        if (round < 2) {
            CHECK(part.find("{\"type\":\"stdout\",\"data\":\"MARK flood\\n") != std::string::npos);
            CHECK(!closed);
        }
        client.close();
        const auto gone = Clock::now();
        CHECK(wait_until([] { return sandbox_processes().empty(); }, 5s));
        CHECK(Clock::now() - gone < 5s);
    }
    check_host_unharmed(fortress);
}

TEST_CASE("api: jailctl pointed at a garbage socket fails clearly and quickly", "[security][api]") {
    Fortress fortress;
    TempDir dir;
    const std::string missing = dir.path() + "/missing.sock", plain = dir.path() + "/plain";
    std::ofstream(plain) << "not a socket\n";
    for (const std::string& target : std::vector<std::string>{missing, plain, dir.path(), std::string("/dev/null")}) {
        INFO("socket " << target);
        const auto started = Clock::now();
        const Jailctl ctl = jailctl_at(target, {"run", "--", "/bin/echo", "hi"});
        CHECK(ctl.exit_code > 0);
        CHECK(!ctl.err.empty());
        CHECK(ctl.out.empty());
        CHECK(Clock::now() - started < 5s);
    }
    // Servers that answer garbage: random bytes, a frame announcing 4 GiB, a truncated frame, an empty frame.
    const struct {
        const char* what;
        std::string answer;
    } servers[] = {
        {"random bytes", random_bytes(4096)},
        {"4 GiB frame", be32(0xffffffffu) + "xxxx"},
        {"truncated frame", be32(100) + "0123456789"},
        {"empty frame", be32(0)},
        {"protobuf garbage", be32(16) + std::string(16, '\xff')},
    };
    int index = 0;
    for (const auto& server : servers) {
        INFO(server.what);
        const std::string path = dir.path() + "/fake" + std::to_string(index++) + ".sock";
        FakeServer fake(path, server.answer);
        const auto started = Clock::now();
        const Jailctl ctl = jailctl_at(path, {"run", "--", "/bin/echo", "hi"});
        CHECK(fake.accepted() >= 1);
        CHECK(ctl.exit_code > 0);  // not killed by a signal, not hung
        CHECK(!ctl.err.empty());
        CHECK(ctl.out.empty());
        CHECK(Clock::now() - started < 5s);
    }
    check_host_unharmed(fortress);
}

TEST_CASE("api: jailctl with a socket path longer than sun_path fails with a message, not an abort",
          "[security][api]") {
    // jailctl --socket <200 characters>: the connect error ("File name too long", a boost::system::system_error
    // in JaildClient) is printed and jailctl exits non-zero; uncaught, it would abort jailctl (SIGABRT).
    Fortress fortress;
    const auto started = Clock::now();
    const Jailctl ctl = jailctl_at(std::string(200, 'x'), {"run", "--", "/bin/echo", "hi"});
    INFO(ctl.err);
    CHECK(ctl.exit_code > 0);  // -1: killed by a signal (SIGABRT)
    CHECK(ctl.err.find("File name too long") != std::string::npos);
    CHECK(ctl.err.find("terminate called") == std::string::npos);
    CHECK(ctl.out.empty());
    CHECK(Clock::now() - started < 5s);
    check_host_unharmed(fortress);
}

TEST_CASE("api: raw garbage on jaild's socket drops that connection only", "[security][api]") {
    Fortress fortress;
    // A connection that stalls mid-frame holds no run slot and delays nobody.
    Connection stalled(fortress.socket());
    stalled.send_raw(be32(100) + "0123456789");

    const struct {
        const char* what;
        std::string bytes;
        bool half_close;
    } attacks[] = {
        {"random bytes", random_bytes(65536), false},
        {"4 GiB frame header", be32(0xffffffffu), false},
        {"frame over max_frame_bytes", be32(16 * 1024 * 1024 + 1) + "x", false},
        {"truncated frame then EOF", be32(100) + "0123456789", true},
        {"header cut short then EOF", std::string("\x00\x00", 2), true},
        {"empty frame", be32(0), false},
        {"protobuf garbage", be32(64) + std::string(64, '\xff'), false},
        {"HTTP on the Unix socket", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
    };
    for (const auto& attack : attacks) {
        INFO(attack.what);
        Connection connection(fortress.socket());
        connection.send_raw(attack.bytes);
        if (attack.half_close) ::shutdown(connection.fd(), SHUT_WR);
        std::string saw;
        const auto started = Clock::now();
        CHECK(closed_by_jaild(connection, 12s, saw));
        CHECK(Clock::now() - started < 12s);
        // Whatever jaild said before closing is at most one Error frame.
        if (saw.size() >= 4) {
            const std::uint32_t length = (static_cast<unsigned char>(saw[0]) << 24) |
                                         (static_cast<unsigned char>(saw[1]) << 16) |
                                         (static_cast<unsigned char>(saw[2]) << 8) | static_cast<unsigned char>(saw[3]);
            CHECK(length + 4 == saw.size());
            v1::ServerMessage message;
            CHECK(message.ParseFromString(saw.substr(4)));
            CHECK(message.has_error());
        }
        const RunResult normal = run_sh(fortress.socket(), "echo MARK normal");
        CHECK(normal.out == "MARK normal\n");
    }
    // 100 garbage connections at once while a run goes on.
    std::vector<std::unique_ptr<Connection>> flood;
    for (int i = 0; i < 100; ++i) {
        flood.push_back(std::make_unique<Connection>(fortress.socket()));
        flood.back()->send_raw(random_bytes(512));
    }
    const Attack meanwhile = fortress.run({"/bin/echo", "MARK meanwhile"});
    CHECK(meanwhile.out == "MARK meanwhile\n");
    flood.clear();
    // The stalled connection is closed after request_timeout_ms (10 s by default).
    std::string saw;
    CHECK(closed_by_jaild(stalled, 15s, saw));
    CHECK(fortress.stack.daemon.log().find("Segmentation") == std::string::npos);
    check_host_unharmed(fortress);
}

TEST_CASE("api: out-of-range, negative, fractional and non-numeric limits are 400 naming the field",
          "[security][api]") {
    Fortress fortress;
    const std::vector<std::string> values = {"-1",
                                             "-9223372036854775808",
                                             "18446744073709551616",
                                             "18446744073709551615",
                                             "1e400",
                                             "1.5",
                                             "1e3",
                                             "\"100\"",
                                             "true",
                                             "[]",
                                             "{}",
                                             "4294967296",
                                             "-0.0",
                                             "99999999999999999999999"};
    for (const char* field : {"time", "wall", "mem", "fsize", "nofile", "nproc", "output"}) {
        for (const std::string& value : values) {
            INFO(field << " = " << value);
            const HttpResponse run = post_json(
                fortress.port(), "/run", R"({"command": ["/bin/true"], ")" + std::string(field) + "\": " + value + "}");
            CHECK(run.status == 400);
            CHECK(error_field(run) == field);
            const HttpResponse execute = post_json(
                fortress.port(), "/execute",
                R"({"language": "sh", "code": "true", "limits": {")" + std::string(field) + "\": " + value + "}}");
            CHECK(execute.status == 400);
            CHECK(error_field(execute) == field);  // the request's own name, also inside "limits"
        }
    }
    // Just above jaild's configured maximum: jaild refuses, the gateway names the HTTP field.
    const HttpResponse above = post_json(fortress.port(), "/run", R"({"command": ["/bin/true"], "time": 300001})");
    CHECK(above.status == 400);
    CHECK(error_field(above) == "time");
    CHECK(error_text(above) == "time 300001 exceeds the maximum 300000");
    const HttpResponse null_limit = post_json(fortress.port(), "/run", R"({"command": ["/bin/true"], "mem": null})");
    CHECK(null_limit.status == 400);
    // 0 is the default, and the maxima themselves are allowed.
    const Attack zero = fortress.run({"/bin/echo", "MARK zero"}, R"("time": 0, "mem": 0, "nproc": 0)");
    CHECK(zero.status == "ok");
    CHECK(zero.out == "MARK zero\n");
    const Attack max = fortress.run({"/bin/echo", "MARK max"}, R"("time": 300000, "wall": 600000, "nofile": 4096)");
    CHECK(max.status == "ok");
    CHECK(max.out == "MARK max\n");
    check_host_unharmed(fortress, zero.out + max.out);
}

}  // namespace jaild::test
