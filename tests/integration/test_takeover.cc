// Two jailds on one host: a second one never shares the first's uids or takes its socket, and a jaild that
// stops removes only the socket it bound.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "common/unique_fd.h"
#include "tests/support/harness.h"
#include "tests/support/process.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

void check_hello(const std::string& socket) {
    const RunResult r = run(socket, run_message({"echo", "hello"}));
    INFO("error: " << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "hello\n");
}

// A second jaild on `socket` with uids from `uid_base`, expected to refuse: its exit status and what it wrote.
// (Daemon cannot start it: it waits for the socket to answer, and the first jaild answers there.)
struct Refusal {
    bool exited = false;
    int status = 0;
    std::string log;
};

Refusal start_second(const std::string& socket, std::uint32_t uid_base) {
    TempDir dir;
    const std::string config = dir.path() + "/jaild.toml";
    std::ofstream(config) << "[server]\nsocket = \"" << socket
                          << "\"\nsocket_group = \"\"\n[sandbox]\nuid_base = " << uid_base
                          << "\nuid_count = " << kUidCount << "\nrun_dir = \"" << dir.path()
                          << "/run\"\n[sessions]\nstate_dir = \"" << dir.path()
                          << "/state\"\n[zygote]\nenabled = false\n";
    const std::string log_path = dir.path() + "/jaild.log";
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_t pid = launch({.argv = {bin("jaild"), "--config", config}, .stderr_fd = log_fd});
    ::close(log_fd);
    Refusal refusal;
    refusal.exited = wait_until([&] { return ::waitpid(pid, &refusal.status, WNOHANG) == pid; }, 10s);
    if (!refusal.exited) terminate_child(pid);
    std::ifstream in(log_path);
    refusal.log.assign(std::istreambuf_iterator<char>(in), {});
    return refusal;
}

void check_refused(const Refusal& refusal) {
    INFO(refusal.log);
    REQUIRE(refusal.exited);
    CHECK(WIFEXITED(refusal.status));
    CHECK(WEXITSTATUS(refusal.status) == 1);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("a jaild whose uid range overlaps a running one's refuses to start, naming the other's socket",
          "[root][takeover]") {
    Daemon first;
    TempDir elsewhere;
    const Refusal refusal = start_second(elsewhere.path() + "/jaild.sock", kUidBase + kUidCount / 2);
    check_refused(refusal);
    const std::string& text = refusal.log;
    CHECK(text.find("overlap") != std::string::npos);
    CHECK(text.find(first.socket()) != std::string::npos);
    CHECK(text.find("uid_base") != std::string::npos);
    check_hello(first.socket());

    // Beside it, a range of its own: both serve.
    Daemon second;
    check_hello(second.socket());
    check_hello(first.socket());
}

TEST_CASE("a jaild started on a socket another jaild answers on refuses it; the first keeps its socket",
          "[root][takeover]") {
    Daemon first;
    const Refusal refusal = start_second(first.socket(), kUidBase + kUidSlots * kUidCount);
    check_refused(refusal);
    const std::string& text = refusal.log;
    CHECK(text.find(first.socket()) != std::string::npos);
    CHECK(text.find("in use") != std::string::npos);
    check_hello(first.socket());

    const std::string path = first.socket();
    CHECK(first.terminate() == 0);
    CHECK_FALSE(exists(path));  // a stopping jaild removes its own socket

    Daemon again(Daemon::AtSocket{path});  // the path is free again
    check_hello(path);
}

TEST_CASE("a socket file nobody answers on (a killed jaild's) is replaced", "[root][takeover]") {
    Daemon first;
    const std::string path = first.socket();
    first.kill9();
    REQUIRE(exists(path));
    // For a moment after jaild dies, a child it cloned but that had not yet exec'd may still hold the listening
    // socket: wait until nobody answers, so that the daemon's readiness check below reaches the new jaild.
    REQUIRE(wait_until([&] { return Connection(path).fd() < 0; }, 3s));
    Daemon second(Daemon::AtSocket{path});
    check_hello(path);
}

TEST_CASE("a stopping jaild leaves a socket that is no longer its own in place", "[root][takeover]") {
    Daemon first;
    const std::string path = first.socket();
    // Someone else's socket now lives at the path (as if another jaild had replaced it).
    REQUIRE(::unlink(path.c_str()) == 0);
    unique_fd other(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(other.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    CHECK(first.terminate() == 0);
    CHECK(exists(path));
    CHECK(first.log().find("left in place") != std::string::npos);
}
