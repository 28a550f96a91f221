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

#include "../integration/harness.h"
#include "http_client.h"

using namespace jaild::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A gateway config file with short timeouts so the tests do not wait for the production defaults.
std::string short_timeouts(const TempDir& dir) {
    const std::string path = dir.path() + "/gateway.toml";
    std::ofstream(path) << "[gateway]\nheader_timeout_ms = 2000\nidle_timeout_ms = 3000\nshutdown_grace_ms = 3000\n";
    return path;
}

const std::string kRunRequest = "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ";

std::string raw_run(const std::string& body) { return kRunRequest + std::to_string(body.size()) + "\r\n\r\n" + body; }

}  // namespace

TEST_CASE("gateway: a slowloris client does not delay others and is cut off", "[gateway]") {
    Daemon daemon;
    TempDir dir;
    GatewayProcess gateway(daemon.socket(), {"--config", short_timeouts(dir)});
    RawConnection slow(gateway.port());
    const std::string header = "GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(100, 'p') + "\r\n\r\n";
    std::atomic<bool> slow_cut{false};
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
    const std::string answer = slow.receive_all(5s, closed);  // the 2 s header timeout fires first
    slow_cut = true;
    dribble.join();
    CHECK(closed);
    CHECK(answer.empty());  // the header timeout closes the connection without an answer
}

TEST_CASE("gateway: malformed HTTP gets a 4xx and the connection closed", "[gateway]") {
    Daemon daemon;
    GatewayProcess gateway(daemon.socket());
    {
        RawConnection connection(gateway.port());
        connection.send("THIS IS NOT HTTP\r\n\r\n");
        bool closed = false;
        const std::string answer = connection.receive_all(5s, closed);
        CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(closed);
    }
    {
        RawConnection connection(gateway.port());
        connection.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n");
        bool closed = false;
        const std::string answer = connection.receive_all(5s, closed);
        CHECK(answer.rfind("HTTP/1.1 431", 0) == 0);
        CHECK(closed);
    }
    // The gateway is still fine.
    CHECK(http_request(gateway.port(), "GET", "/health").status == 200);
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
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    ::kill(gateway.pid(), SIGTERM);
    const auto response = pending.get();
    CHECK(response.status == 200);
    CHECK(response.json().at("stdout") == "done\n");
    bool closed = false;
    idle.receive_all(3s, closed);
    CHECK(closed);
    const int status = gateway.terminate();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    // A run longer than the grace period is cancelled, not waited for.
    GatewayProcess second(daemon.socket(), {"--config", short_timeouts(dir)});
    auto slow = std::async(std::launch::async,
                           [&] { return post_json(second.port(), "/run", R"({"command":["/bin/sleep","20"]})"); });
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    const auto started = Clock::now();
    ::kill(second.pid(), SIGTERM);
    CHECK(slow.wait_for(10s) == std::future_status::ready);
    second.terminate();
    CHECK(Clock::now() - started < 8s);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("gateway: refuses a non-loopback address without --allow-remote", "[gateway]") {
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
    first.reset();  // a slot frees up
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
