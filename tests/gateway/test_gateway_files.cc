// A session's files through the gateway at sizes past one protocol frame (16 MiB): streamed both ways with
// the memory of both daemons bounded (their peak RSS, VmHWM, checked around the transfers), the quota exact
// whether the size is announced or not, and nothing left by an upload that is refused or abandoned. Also
// POST /sessions/{id}/cwd refusing a directory that does not exist.
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/skip.h"

using namespace jaild::test;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string text(const json::value& value) { return std::string(value.as_string()); }

std::string sessions_toml(const TempDir& state, const std::string& extra = "") {
    return "[sessions]\nstate_dir = \"" + state.path() + "\"\n" + extra;
}

std::string create_session(int port) {
    const auto response = post_json(port, "/sessions", "{}");
    REQUIRE(response.status == 201);
    return text(response.json().at("session_id"));
}

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937_64 generator(seed);
    std::string out(size, '\0');
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
        const std::uint64_t word = generator();
        std::memcpy(out.data() + i, &word, 8);
    }
    return out;
}

// sha256sum's digest of `data`, computed on the host.
std::string sha256(const std::string& data) {
    TempDir dir;
    const std::string path = dir.path() + "/data";
    std::ofstream(path, std::ios::binary) << data;
    FILE* pipe = ::popen(("sha256sum " + path).c_str(), "r");
    REQUIRE(pipe);
    char digest[65] = {};
    const std::size_t n = std::fread(digest, 1, 64, pipe);
    ::pclose(pipe);
    REQUIRE(n == 64);
    return digest;
}

// A request's head for a raw connection.
std::string head(const std::string& method, const std::string& target, const std::string& headers) {
    return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + "\r\n";
}

std::string chunked(const std::string& data, std::size_t piece) {
    std::string out;
    char size[32];
    for (std::size_t at = 0; at < data.size(); at += piece) {
        const std::size_t n = std::min(piece, data.size() - at);
        std::snprintf(size, sizeof size, "%zx\r\n", n);
        out += size + data.substr(at, n) + "\r\n";
    }
    return out + "0\r\n\r\n";
}

int status_of(const std::string& answer) {
    return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(answer.substr(9, 3)) : 0;
}

// Every name below the session's workspace on disk (a temporary upload file included).
std::vector<std::string> on_disk(const TempDir& state, const std::string& id) {
    std::vector<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(state.path() + "/sessions/" + id + "/data"))
        names.push_back(fs::relative(entry.path(), state.path() + "/sessions/" + id + "/data").string());
    std::sort(names.begin(), names.end());
    return names;
}

bool session_running(int port, const std::string& id) {
    return http_request(port, "GET", "/sessions/" + id).json().at("running").as_bool();
}

}  // namespace

TEST_CASE("gateway files: 40 MiB up and down, streamed, in bounded memory", "[gateway][files]") {
    TempDir state;
    Stack stack(sessions_toml(state));
    const int port = stack.port();
    const std::string id = create_session(port);
    const std::string files = "/sessions/" + id + "/files/";
    // Small files as before; and both daemons have served a transfer before their peaks are taken.
    auto response = http_request(port, "PUT", files + "small.txt", "hello");
    REQUIRE(response.status == 201);
    CHECK(response.json().at("size") == 5);
    response = http_request(port, "GET", files + "small.txt");
    CHECK(response.body == "hello");
    CHECK(response.header("content-length") == "5");

    const std::string content = random_bytes(40 << 20, 1);
    const long gateway_before = peak_kb(stack.gateway.pid()), jaild_before = peak_kb(stack.daemon.pid());
    response = http_request(port, "PUT", files + "big/blob.bin", content);
    REQUIRE(response.status == 201);
    CHECK(response.json().at("path") == "big/blob.bin");
    CHECK(response.json().at("size") == content.size());
    response = http_request(port, "GET", files + "big/blob.bin");
    REQUIRE(response.status == 200);
    CHECK(response.header("content-length") == std::to_string(content.size()));
    CHECK(response.body.size() == content.size());
    CHECK((response.body == content));
    // The same again without a Content-Length: a chunked body.
    const std::string second = random_bytes(20 << 20, 2);
    RawConnection upload(port);
    REQUIRE(
        upload.send(head("PUT", files + "chunked.bin", "Transfer-Encoding: chunked\r\n") + chunked(second, 1 << 20)));
    bool closed = false;
    const std::string answer = upload.receive_all(60s, closed);
    CHECK(status_of(answer) == 201);
    CHECK(answer.find("\"size\":" + std::to_string(second.size())) != std::string::npos);
    CHECK((http_request(port, "GET", files + "chunked.bin").body == second));
    const long gateway_growth = peak_kb(stack.gateway.pid()) - gateway_before;
    const long jaild_growth = peak_kb(stack.daemon.pid()) - jaild_before;
    INFO("peak RSS growth: gateway " << gateway_growth << " KiB, jaild " << jaild_growth << " KiB, for files of "
                                     << (content.size() >> 10) << " KiB");
    if (kSanitizedBuild) {
        skip("memory bounds under ASan (checked in the plain build)");
    } else {
        CHECK(gateway_growth < 12 * 1024);
        CHECK(jaild_growth < 12 * 1024);
    }

    // Programs in the session see the same bytes.
    response = post_json(port, "/sessions/" + id + "/run", R"({"command": ["sha256sum", "big/blob.bin"]})");
    REQUIRE(response.status == 200);
    CHECK(text(response.json().at("stdout")).substr(0, 64) == sha256(content));
    response = http_request(port, "GET", "/sessions/" + id);
    CHECK(response.json().at("disk_used_bytes") == content.size() + second.size() + 5);
}

TEST_CASE("gateway files: the quota is exact, refused uploads leave nothing", "[gateway][files]") {
    TempDir state;
    Stack stack(sessions_toml(state, "quota_kb = 64\n"));
    const int port = stack.port();
    const std::string id = create_session(port);
    const std::string files = "/sessions/" + id + "/files/";
    // Exactly the quota fits; one byte more does not; replacing a file counts the old one out.
    CHECK(http_request(port, "PUT", files + "full.bin", std::string(64 * 1024, 'a')).status == 201);
    auto response = http_request(port, "PUT", files + "one.bin", "x");
    CHECK(response.status == 507);
    CHECK(text(response.json().at("error")) ==
          "the session's disk quota of 65536 bytes would be exceeded (65537 bytes)");
    CHECK(http_request(port, "PUT", files + "full.bin", std::string(64 * 1024, 'b')).status == 201);
    CHECK(http_request(port, "DELETE", files + "full.bin").status == 200);

    // An announced size past the quota is refused before the body is sent.
    RawConnection announced(port);
    REQUIRE(announced.send(head("PUT", files + "big.bin", "Content-Length: 2097152\r\n")));
    bool closed = false;
    std::string answer = announced.receive_all(20s, closed);
    CHECK(status_of(answer) == 507);
    CHECK(answer.find("(2097152 bytes)") != std::string::npos);
    CHECK(closed);
    // A chunked body is refused when it passes the quota.
    RawConnection streamed(port);
    REQUIRE(streamed.send(head("PUT", files + "big.bin", "Transfer-Encoding: chunked\r\n") +
                          chunked(random_bytes(200 * 1024, 3), 16 * 1024)));
    answer = streamed.receive_all(20s, closed);
    CHECK(status_of(answer) == 507);
    CHECK(answer.find("quota of 65536 bytes") != std::string::npos);

    CHECK(wait_until([&] { return !session_running(port, id); }, 10s));
    CHECK(http_request(port, "GET", files + "big.bin").status == 404);
    CHECK(on_disk(state, id) == std::vector<std::string>{"tmp", "workspace"});
    response = http_request(port, "GET", "/sessions/" + id);
    CHECK(response.json().at("disk_used_bytes") == 0);
}

TEST_CASE("gateway files: a client that leaves mid-transfer leaves nothing, and the session works on",
          "[gateway][files]") {
    TempDir state;
    Stack stack(sessions_toml(state));
    const int port = stack.port();
    const std::string id = create_session(port);
    const std::string files = "/sessions/" + id + "/files/";
    {
        RawConnection upload(port);
        REQUIRE(
            upload.send(head("PUT", files + "partial.bin", "Content-Length: 10485760\r\n") + random_bytes(3 << 20, 4)));
        CHECK(wait_until([&] { return session_running(port, id); }, 10s));  // jaild is receiving it
    }
    CHECK(wait_until([&] { return !session_running(port, id); }, 10s));
    CHECK(http_request(port, "GET", files + "partial.bin").status == 404);
    CHECK(on_disk(state, id) == std::vector<std::string>{"tmp", "workspace"});

    // A download abandoned half-way frees the session too.
    const std::string content = random_bytes(24 << 20, 5);
    REQUIRE(http_request(port, "PUT", files + "big.bin", content).status == 201);
    {
        RawConnection download(port);
        REQUIRE(download.send(head("GET", files + "big.bin", "")));
        bool closed = false;
        CHECK(status_of(download.receive_all(300ms, closed)) == 200);
    }
    CHECK(wait_until([&] { return !session_running(port, id); }, 40s));

    CHECK(http_request(port, "PUT", files + "after.txt", "still here\n").status == 201);
    const auto response = post_json(port, "/sessions/" + id + "/run", R"({"command": ["cat", "after.txt"]})");
    CHECK(response.json().at("stdout") == "still here\n");
    CHECK((http_request(port, "GET", files + "big.bin").body == content));
}

TEST_CASE("gateway sessions: cwd must be a directory that exists in the session's view", "[gateway][files]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_session(port);
    const std::string cwd = "/sessions/" + id + "/cwd";
    auto response =
        post_json(port, "/sessions/" + id + "/run",
                  R"({"command": ["sh", "-c", "mkdir -p sub/deeper /tmp/t; echo x > file; ln -s /etc link"]})");
    REQUIRE(response.json().at("status") == "ok");

    for (const char* good : {"/workspace/sub/deeper", "/tmp/t", "/workspace", "/tmp", "/usr/lib", "/"}) {
        INFO(good);
        response = post_json(port, cwd, std::string(R"({"cwd": ")") + good + "\"}");
        CHECK(response.status == 200);
        CHECK(response.json().at("cwd") == good);
    }
    response = post_json(port, cwd, R"({"cwd": "/workspace/sub/deeper"})");
    response = post_json(port, "/sessions/" + id + "/run", R"({"command": ["pwd"]})");
    CHECK(response.json().at("stdout") == "/workspace/sub/deeper\n");

    struct Refused {
        const char* cwd;
        const char* says;
    };
    std::vector<Refused> refused = {
        {"/workspace/nope", "cwd \"/workspace/nope\" does not exist in the session"},
        {"/tmp/nope/deeper", "cwd \"/tmp/nope/deeper\" does not exist in the session"},
        {"/workspace/file", "cwd \"/workspace/file\" is not a directory"},
        {"/workspace/link", "symbolic link"},
    };
    const bool templated = stack.daemon.log().find("cannot build the sandboxes' template root") == std::string::npos;
    if (templated)
        refused.push_back({"/nonexistent", "cwd \"/nonexistent\" does not exist in the sandbox"});
    else
        skip("jaild has no template root here, so paths outside /workspace and /tmp are not checked");
    for (const Refused& bad : refused) {
        INFO(bad.cwd);
        response = post_json(port, cwd, std::string(R"({"cwd": ")") + bad.cwd + "\"}");
        CHECK(response.status == 400);
        CHECK(response.json().at("field") == "cwd");
        CHECK(text(response.json().at("error")).find(bad.says) != std::string::npos);
    }
    // The refusals changed nothing: runs still start in the last accepted directory.
    response = post_json(port, "/sessions/" + id + "/run", R"({"command": ["pwd"]})");
    CHECK(response.json().at("stdout") == "/workspace/sub/deeper\n");
}

TEST_CASE("gateway files: an upload whose body stalls gets 408 and leaves nothing", "[gateway][files]") {
    TempDir state, config;
    Daemon daemon(sessions_toml(state));
    std::ofstream(config.path() + "/gateway.toml") << "[gateway]\nbody_timeout_ms = 1000\n";
    GatewayProcess gateway(daemon.socket(), {"--config", config.path() + "/gateway.toml"});
    const int port = gateway.port();
    const std::string id = create_session(port);
    RawConnection upload(port);
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(upload.send(head("PUT", "/sessions/" + id + "/files/stalled.bin", "Content-Length: 1048576\r\n") +
                        random_bytes(100 * 1024, 6)));
    bool closed = false;
    const std::string answer = upload.receive_all(10s, closed);
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(status_of(answer) == 408);
    CHECK(answer.find("no part of the request body received within 1000 ms") != std::string::npos);
    CHECK(closed);
    CHECK(waited >= 900ms);
    CHECK(waited < 5s);
    CHECK(wait_until([&] { return !session_running(port, id); }, 10s));
    CHECK(on_disk(state, id) == std::vector<std::string>{"tmp", "workspace"});
    CHECK(http_request(port, "PUT", "/sessions/" + id + "/files/after.txt", "ok").status == 201);
}
