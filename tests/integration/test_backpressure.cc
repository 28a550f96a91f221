// A client that misbehaves with flow control cannot make jaild hold a run or grow without bound.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "common/framing.h"
#include "tests/support/harness.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

long rss_kb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

}  // namespace

TEST_CASE("a client that stops reading is dropped and its run cleaned up", "[root][backpressure]") {
    Daemon daemon("", "write_timeout_ms = 1000\n");
    Connection client(daemon.socket());
    v1::Limits l;
    l.set_output_bytes(64 << 20);
    l.set_wall_ms(60000);
    client.send(run_message({"yes"}, l));  // then never read: the socket buffers fill within milliseconds
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));
    // Without the write deadline the run would hold its uid and cgroup until the 60 s wall limit.
    const auto started = std::chrono::steady_clock::now();
    CHECK(wait_until([] { return sandbox_processes().empty() && job_cgroups().empty(); }, 10s));
    CHECK(std::chrono::steady_clock::now() - started < 8s);
    CHECK_THAT(daemon.log(), Catch::Contains("client stopped reading"));
    const RunResult r = run(daemon.socket(), run_message({"echo", "still serving"}));
    CHECK(r.out == "still serving\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("stdin the program does not read is bounded in jaild's memory", "[root][backpressure]") {
    Daemon daemon;
    Connection client(daemon.socket());
    v1::ClientMessage request = run_message({"sleep", "3"}, limits(10000));
    request.mutable_run()->set_stdin_stream(true);
    client.send(request);
    v1::ServerMessage started;
    REQUIRE(client.receive(started));
    REQUIRE(started.has_started());
    const long before = rss_kb(daemon.pid());

    // Push as much stdin as jaild accepts for a second, without blocking: 64 MiB if nothing pushed back.
    v1::ClientMessage chunk;
    chunk.mutable_stdin()->set_data(std::string(1 << 20, 'x'));
    const std::string frame = framing::encode(chunk);
    std::size_t sent = 0;
    const auto until = std::chrono::steady_clock::now() + 1s;
    std::size_t offset = 0;
    while (std::chrono::steady_clock::now() < until && sent < (64u << 20)) {
        const ssize_t n =
            ::send(client.fd(), frame.data() + offset, frame.size() - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) {
            std::this_thread::sleep_for(5ms);
            continue;
        }
        sent += static_cast<std::size_t>(n);
        offset = (offset + static_cast<std::size_t>(n)) % frame.size();
    }
    const long after = rss_kb(daemon.pid());
    INFO("sent " << sent << " bytes; jaild RSS " << before << " -> " << after << " KiB");
    CHECK(sent < (32u << 20));  // jaild stopped reading: the flood was pushed back to the client
    // 4 MiB backlog + socket buffers (times ASan's quarantine and redzones in that build), never the 64 MiB
    // the flood would have queued without backpressure.
    CHECK(after - before < 32 * 1024);
    client.close();
    check_nothing_left(daemon.run_dir());
}
