// jaild-gateway under adverse conditions: slow and malformed clients, clients that leave, jaild dying and
// coming back, a full jaild, SIGTERM.
#include <signal.h>
#include <sys/wait.h>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

using namespace jaild::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A gateway config file with short timeouts so the tests do not wait for the production defaults.
std::string short_timeouts(const TempDir& dir, const std::string& extra = "") {
    const std::string path = dir.path() + "/gateway.toml";
    std::ofstream(path) << "[gateway]\nheader_timeout_ms = 2000\nbody_timeout_ms = 2000\nidle_timeout_ms = 3000\n"
                           "shutdown_grace_ms = 3000\n"
                        << extra;
    return path;
}

const std::string kRunRequest = "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ";

std::string raw_run(const std::string& body) { return kRunRequest + std::to_string(body.size()) + "\r\n\r\n" + body; }

// A raw answer's parts: the status code, a header (name in any case) and the body.
struct RawAnswer {
    int status = 0;
    std::string head, body;

    explicit RawAnswer(const std::string& text) {
        if (text.rfind("HTTP/1.1 ", 0) == 0 && text.size() >= 12) status = std::stoi(text.substr(9, 3));
        const std::size_t end = text.find("\r\n\r\n");
        head = text.substr(0, end);
        if (end != std::string::npos) body = text.substr(end + 4);
    }
    std::string header(std::string name) const {
        std::string lower_head = head;
        for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const std::size_t at = lower_head.find("\r\n" + name + ": ");
        if (at == std::string::npos) return {};
        const std::size_t from = at + name.size() + 4;
        return head.substr(from, head.find("\r\n", from) - from);
    }
};

// Sends `bytes` on a new connection and reads until the gateway closes it (or 5 s).
RawAnswer exchange_raw(int port, const std::string& bytes, bool& closed) {
    RawConnection connection(port);
    connection.send(bytes);
    return RawAnswer(connection.receive_all(5s, closed));
}

}  // namespace

TEST_CASE("gateway: a slowloris client does not delay others and is cut off", "[gateway]") {
    Daemon daemon;
    TempDir dir;
    GatewayProcess gateway(daemon.socket(), {"--config", short_timeouts(dir)});
    // Many connections that started a header and stall...
    std::vector<std::unique_ptr<RawConnection>> stalled;
    for (int i = 0; i < 20; ++i) {
        stalled.push_back(std::make_unique<RawConnection>(gateway.port()));
        stalled.back()->send("GET /health HTTP/1.1\r\nHost: x\r\n");
    }
    // ...and one that dribbles a byte every 200 ms.
    RawConnection slow(gateway.port());
    const std::string header = "GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(100, 'p') + "\r\n\r\n";
    std::atomic<bool> slow_cut{false};
    const auto slow_start = Clock::now();
    std::thread dribble([&] {
        for (char c : header) {
            if (!slow.send(std::string(1, c))) break;
            std::this_thread::sleep_for(200ms);
            if (slow_cut) break;
        }
    });
    std::this_thread::sleep_for(500ms);
    for (int i = 0; i < 3; ++i) {
        const auto response = http_request(gateway.port(), "GET", "/health");
        CHECK(response.status == 200);
        CHECK(response.elapsed < 1s);
    }
    const auto run = post_json(gateway.port(), "/run", R"({"command":["/bin/echo","fast"]})");
    CHECK(run.status == 200);
    CHECK(run.elapsed < 2s);
    bool closed = false;
    const RawAnswer answer(slow.receive_all(5s, closed));  // the 2 s header timeout fires first
    const auto slow_elapsed = Clock::now() - slow_start;
    slow_cut = true;
    dribble.join();
    CHECK(closed);
    CHECK(slow_elapsed >= 1500ms);
    CHECK(slow_elapsed < 4s);
    REQUIRE(answer.status == 408);
    CHECK(answer.header("connection") == "close");
    CHECK(answer.header("x-request-id").size() == 32);
    const auto body = boost::json::parse(answer.body);
    CHECK(body.at("error") == "request header not received within 2000 ms");
    CHECK(body.at("field").is_null());
    for (auto& connection : stalled) {
        const RawAnswer stalled_answer(connection->receive_all(3s, closed));
        CHECK(stalled_answer.status == 408);
        CHECK(closed);
    }

    // A body that does not arrive in time gets the same, naming the body.
    RawConnection slow_body(gateway.port());
    slow_body.send(kRunRequest + "100\r\n\r\n{\"command\":");
    const RawAnswer body_answer(slow_body.receive_all(5s, closed));
    CHECK(closed);
    REQUIRE(body_answer.status == 408);
    CHECK(boost::json::parse(body_answer.body).at("error") == "request body not received within 2000 ms");
    CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
}

TEST_CASE("gateway: malformed HTTP gets a 4xx and the connection closed", "[gateway]") {
    Daemon daemon;
    GatewayProcess gateway(daemon.socket());
    struct Case {
        const char* what;
        std::string bytes;
        int status;
    };
    const std::string chunked =
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    const Case cases[] = {
        {"bad request line", "THIS IS NOT HTTP\r\n\r\n", 400},
        {"bad method token", "G(T /health HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"bad version", "GET /health HTTP/1.x\r\nHost: x\r\n\r\n", 400},
        {"bad header line", "GET /health HTTP/1.1\r\nHost x\r\n\r\n", 400},
        {"huge header", "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n", 431},
        {"bad chunk size", chunked + "zz\r\n{}\r\n0\r\n\r\n", 400},
        {"chunk without its CRLF", chunked + "2\r\n{}XX0\r\n\r\n", 400},
        {"chunked body too large", chunked + "110000\r\n" + std::string(0x110000, ' ') + "\r\n0\r\n\r\n", 413},
        {"bad Content-Length", kRunRequest + "ten\r\n\r\n", 400},
        {"two Content-Lengths", kRunRequest + "2\r\nContent-Length: 3\r\n\r\n{}", 400},
        {"Content-Length too large", kRunRequest + "5000000\r\n\r\n{", 413},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        bool closed = false;
        const RawAnswer answer = exchange_raw(gateway.port(), c.bytes, closed);
        CHECK(answer.status == c.status);
        CHECK(closed);
        CHECK(answer.header("connection") == "close");
        CHECK(answer.header("x-request-id").size() == 32);
        if (answer.status != 0) CHECK(boost::json::parse(answer.body).at("field").is_null());
    }
    // The gateway is still fine.
    CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
}

TEST_CASE("gateway: idle connections are closed after the idle timeout", "[gateway]") {
    Daemon daemon;
    TempDir dir;
    GatewayProcess gateway(daemon.socket(), {"--config", short_timeouts(dir)});
    // Kept alive after an answer, then nothing.
    RawConnection kept(gateway.port());
    kept.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    auto started = Clock::now();
    bool closed = false;
    const RawAnswer answer(kept.receive_all(6s, closed));
    CHECK(answer.status == 200);
    CHECK(closed);
    CHECK(Clock::now() - started >= 2500ms);  // idle_timeout_ms = 3000
    CHECK(Clock::now() - started < 5s);
    // Connected, never a byte: closed after the same time, without an answer.
    RawConnection silent(gateway.port());
    started = Clock::now();
    CHECK(silent.receive_all(6s, closed).empty());
    CHECK(closed);
    CHECK(Clock::now() - started >= 2500ms);
    CHECK(Clock::now() - started < 5s);
}

TEST_CASE("gateway: a client that does not read its answer is dropped after the write timeout", "[gateway]") {
    Daemon daemon;
    TempDir dir;
    GatewayProcess gateway(daemon.socket(), {"--config", short_timeouts(dir, "write_timeout_ms = 2000\n")});
    RawConnection never_reads(gateway.port());
    // 20 MB of NUL bytes, 6 bytes of JSON each: far more than the socket buffers between us hold.
    const auto sent = Clock::now();
    never_reads.send(raw_run(R"({"command":["/bin/sh","-c","head -c 20000000 /dev/zero; sleep 30"],)"
                             R"("output":67108864,"stream":true})"));
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    // The stalled write times out, the gateway drops the client and closes its jaild connection: the job dies
    // well before jaild's own 10 s wall-clock limit would end it.
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 8s));
    CHECK(Clock::now() - sent < 8s);
    CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("gateway: keep-alive and pipelining", "[gateway]") {
    Daemon daemon;
    GatewayProcess gateway(daemon.socket());
    RawConnection connection(gateway.port());
    const std::string body = R"({"command":["/bin/echo","one"]})";
    connection.send(raw_run(body) + "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    bool closed = false;
    const std::string answer = connection.receive_all(10s, closed);
    CHECK(answer.find("\"stdout\":\"one\\n\"") != std::string::npos);
    CHECK(answer.find(R"({"status":"healthy"})") != std::string::npos);
    CHECK(closed);
}

TEST_CASE("gateway: a client that hangs up cancels its job", "[gateway]") {
    Daemon daemon;
    GatewayProcess gateway(daemon.socket());
    {
        RawConnection connection(gateway.port());
        connection.send(raw_run(R"({"command":["/bin/sleep","30"]})"));
        REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    }
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 5s));
    {
        // The same while streaming.
        RawConnection connection(gateway.port());
        connection.send(raw_run(R"({"command":["/bin/sh","-c","echo started; sleep 30"],"stream":true})"));
        REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    }
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 5s));
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("gateway: jaild killed mid-run, then restarted", "[gateway]") {
    TempDir dir;
    const std::string socket = dir.path() + "/jaild.sock";
    auto daemon = std::make_unique<Daemon>(Daemon::AtSocket{socket});
    GatewayProcess gateway(socket);
    auto pending = std::async(std::launch::async, [&] {
        return post_json(gateway.port(), "/run", R"({"command":["/bin/sh","-c","echo before; sleep 2"]})");
    });
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    std::this_thread::sleep_for(200ms);
    daemon->kill9();
    REQUIRE(pending.wait_for(10s) == std::future_status::ready);
    const auto response = pending.get();
    REQUIRE(response.status == 200);
    CHECK(response.json().at("status") == "internal_error");
    CHECK(std::string(response.json().at("error").as_string()).find("jaild") != std::string::npos);
    CHECK(response.json().at("stdout") == "before\n");

    auto health = http_request(gateway.port(), "GET", "/health");
    CHECK(health.status == 503);
    CHECK(post_json(gateway.port(), "/run", R"({"command":["/bin/true"]})").status == 503);

    daemon = std::make_unique<Daemon>(Daemon::AtSocket{socket});  // same socket path, gateway untouched
    CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
    const auto again = post_json(gateway.port(), "/run", R"({"command":["/bin/echo","back"]})");
    REQUIRE(again.status == 200);
    CHECK(again.json().at("stdout") == "back\n");
    check_nothing_left(daemon->run_dir());

    // The same while streaming: the stream ends with an internal_error result line.
    auto streaming = std::async(std::launch::async, [&] {
        return post_stream(gateway.port(), "/run",
                           R"({"command":["/bin/sh","-c","echo early; sleep 5"],"stream":true})");
    });
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    std::this_thread::sleep_for(300ms);
    daemon->kill9();
    REQUIRE(streaming.wait_for(10s) == std::future_status::ready);
    const auto streamed = streaming.get();
    REQUIRE(streamed.status == 200);
    REQUIRE(streamed.lines.size() == 2);
    CHECK(streamed.lines[0].text == R"({"type":"stdout","data":"early\n"})");
    const auto last = boost::json::parse(streamed.lines[1].text).as_object();
    CHECK(last.at("type") == "result");
    CHECK(last.at("status") == "internal_error");
    CHECK(last.at("exit_code") == -1);
    CHECK(last.at("stdout") == "early\n");
    for (const char* key :
         {"stderr", "signal", "signal_name", "error", "wall_ms", "cpu_ms", "memory_kb", "truncated", "result", "trace"})
        CHECK(last.contains(key));

    daemon = std::make_unique<Daemon>(Daemon::AtSocket{socket});
    CHECK(wait_until([&] { return http_request(gateway.port(), "GET", "/health").status == 200; }, 5s));
    check_nothing_left(daemon->run_dir());
}

TEST_CASE("gateway: a full jaild answers 429", "[gateway]") {
    Daemon daemon("", "max_jobs = 1\n");
    GatewayProcess gateway(daemon.socket());
    auto pending = std::async(std::launch::async,
                              [&] { return post_json(gateway.port(), "/run", R"({"command":["/bin/sleep","1.5"]})"); });
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    const auto refused = post_json(gateway.port(), "/run", R"({"command":["/bin/true"]})");
    CHECK(refused.status == 429);
    CHECK(refused.header("retry-after") == "1");
    CHECK(pending.get().status == 200);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("gateway: SIGTERM finishes in-flight requests, then exits", "[gateway]") {
    Daemon daemon;
    TempDir dir;
    GatewayProcess gateway(daemon.socket(), {"--config", short_timeouts(dir)});
    RawConnection idle(gateway.port());  // a kept-alive connection with nothing to do is closed at once
    auto pending = std::async(std::launch::async, [&] {
        return post_json(gateway.port(), "/run", R"({"command":["/bin/sh","-c","sleep 1; echo done"]})");
    });
    // A kept-alive client in the middle of a run: it gets its answer, marked as the connection's last.
    RawConnection kept(gateway.port());
    kept.send(raw_run(R"({"command":["/bin/sh","-c","sleep 1; echo kept"]})"));
    REQUIRE(wait_until([] { return sandbox_processes().size() >= 2; }, 5s));
    ::kill(gateway.pid(), SIGTERM);
    std::this_thread::sleep_for(200ms);
    RawConnection late(gateway.port());  // new connections are refused
    CHECK(!late.connected());
    const auto response = pending.get();
    CHECK(response.status == 200);
    CHECK(response.json().at("stdout") == "done\n");
    bool closed = false;
    const RawAnswer kept_answer(kept.receive_all(5s, closed));
    CHECK(kept_answer.status == 200);
    CHECK(kept_answer.header("connection") == "close");
    CHECK(kept_answer.body.find(R"("stdout":"kept\n")") != std::string::npos);
    CHECK(closed);
    idle.receive_all(3s, closed);
    CHECK(closed);
    const int status = gateway.terminate();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    // A run longer than the grace period (3 s) gets it, then is cancelled, not waited for.
    GatewayProcess second(daemon.socket(), {"--config", short_timeouts(dir)});
    auto slow = std::async(std::launch::async,
                           [&] { return post_json(second.port(), "/run", R"({"command":["/bin/sleep","20"]})"); });
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    const auto started = Clock::now();
    ::kill(second.pid(), SIGTERM);
    REQUIRE(slow.wait_for(10s) == std::future_status::ready);
    const auto cancelled_after = Clock::now() - started;
    CHECK(slow.get().status == 0);  // cut off without an answer
    CHECK(cancelled_after >= 2500ms);
    CHECK(cancelled_after < 6s);
    const int second_status = second.terminate();
    CHECK(WIFEXITED(second_status));
    CHECK(WEXITSTATUS(second_status) == 0);
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 5s));  // the cancel killed the job
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("gateway: refuses a non-loopback address without keys or --insecure-no-auth", "[gateway]") {
    Daemon daemon;
    const int port = free_port();
    const std::string command = bin("jaild-gateway") + " --listen 0.0.0.0:" + std::to_string(port) +
                                " --jaild-socket " + daemon.socket() + " 2>/dev/null";
    const int status = std::system(command.c_str());
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) != 0);
}

TEST_CASE("gateway: connections above max_connections are refused with 503", "[gateway]") {
    Daemon daemon;
    TempDir dir;
    const std::string config = dir.path() + "/gateway.toml";
    std::ofstream(config) << "[gateway]\nmax_connections = 2\n";
    GatewayProcess gateway(daemon.socket(), {"--config", config});
    // Let the start-up probe's connection end first, so exactly the two below hold the slots.
    REQUIRE(http_request(gateway.port(), "GET", "/health").status == 200);
    std::this_thread::sleep_for(300ms);
    auto first = std::make_unique<RawConnection>(gateway.port());
    RawConnection second(gateway.port());
    std::this_thread::sleep_for(300ms);
    const auto refused = http_request(gateway.port(), "GET", "/health");
    CHECK(refused.status == 503);
    CHECK(refused.header("retry-after") == "1");
    CHECK(refused.json().at("error") == "too many connections");
    CHECK_FALSE(refused.header("x-jaild-node").empty());  // the /health above taught the gateway its node
    first.reset();                                        // a slot frees up
    CHECK(wait_until([&] { return http_request(gateway.port(), "GET", "/health").status == 200; }, 5s));
}

TEST_CASE("gateway: finished connections release their sockets", "[gateway]") {
    Daemon daemon;
    GatewayProcess gateway(daemon.socket());
    const std::string fds = "/proc/" + std::to_string(gateway.pid()) + "/fd";
    auto count_fds = [&] {
        std::size_t n = 0;
        for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(fds)) ++n;
        return n;
    };
    CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
    REQUIRE(wait_until([&] { return count_fds() > 0; }, 1s));
    const std::size_t baseline = count_fds();
    for (int i = 0; i < 20; ++i) {
        CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
        CHECK(post_json(gateway.port(), "/run", R"({"command":["/bin/true"]})").status == 200);
        RawConnection silent(gateway.port());  // connects and leaves without a word
    }
    CHECK(wait_until([&] { return count_fds() <= baseline; }, 5s));
}
