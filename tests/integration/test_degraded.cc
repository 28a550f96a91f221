// Degraded mode ([sandbox] degraded = true, docs/security.md "Degraded mode"): jaild on a host whose cgroups
// cannot be used. jaild runs here in a mount namespace of its own where /sys/fs/cgroup is an empty tmpfs (the
// host's hierarchies unmounted there), as under gVisor or in an LXC container without a cgroup tree; every limit
// is then tried for real with programs that run into it.
#include <sys/stat.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace jaild::test {

namespace {

using namespace std::chrono_literals;

// An executable script that starts build/bin/jaild (with its arguments) where no cgroup is mounted.
std::string no_cgroups_jaild(const TempDir& dir) {
    const std::string path = dir.path() + "/jaild-without-cgroups";
    std::ofstream(path) << "#!/bin/sh\n"
                        << "exec unshare --mount --propagation private /bin/sh -c '"
                        << "umount --recursive --lazy /sys/fs/cgroup 2>/dev/null; "
                        << "mount -t tmpfs -o size=4k,mode=0555 no-cgroups /sys/fs/cgroup || exit 99; "
                        << "exec \"$0\" \"$@\"' " << bin("jaild") << " \"$@\"\n";
    ::chmod(path.c_str(), 0755);
    return path;
}

struct Degraded {
    TempDir dir;
    Daemon daemon{Daemon::Binary{no_cgroups_jaild(dir)}, "degraded = true\n"};
};

RunResult python(const Degraded& d, const std::string& source, v1::Limits limits) {
    return run(d.daemon.socket(), run_message({"/usr/bin/python3", "-c", source}, limits));
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Nothing of the daemon's runs is left: processes of its uids, workspaces and mounts (check_nothing_left), and
// no cgroup was made for them (job cgroups are named job-<jaild's pid>-...; other daemons' are theirs).
void check_clean(const Degraded& d) {
    CHECK(wait_until([] { return pool_processes().empty(); }, 5s));
    check_nothing_left(d.daemon.run_dir(), d.daemon.pid());
    const std::string ours = "job-" + std::to_string(d.daemon.pid()) + "-";
    for (const std::string& name : all_job_cgroups()) CHECK(name.find(ours) == std::string::npos);
}

}  // namespace

TEST_CASE("degraded: without [sandbox] degraded, a host without cgroups is refused with the key to set",
          "[root][degraded]") {
    TempDir dir;
    std::string message;
    try {
        Daemon daemon(Daemon::Binary{no_cgroups_jaild(dir)}, "");
    } catch (const std::runtime_error& e) {
        message = e.what();
    }
    INFO(message);
    CHECK(has(message, "jaild exited at start"));
    CHECK(has(message, "missing: cgroups (none)"));
    CHECK(has(message, "set `[sandbox] degraded = true` in jaild.toml"));
}

TEST_CASE("degraded: python runs, the answer names the isolation and an unknown peak memory", "[root][degraded]") {
    Degraded d;
    CHECK(has(d.daemon.log(), "degraded mode ([sandbox] degraded = true): no usable cgroups"));
    const RunResult r = python(d, "print('hello')", limits(10000, 5000, 256 * 1024));
    INFO(r.out << r.err << r.error.message() << d.daemon.log());
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "hello\n");
    CHECK(r.exit.memory_kb_unknown());
    CHECK(r.exit.memory_kb() == 0);
    REQUIRE(r.exit.has_isolation());
    CHECK_FALSE(r.exit.isolation().cgroups());
    CHECK(r.exit.isolation().memory() == "rlimit_as");
    CHECK(r.exit.isolation().processes() == "rlimit_nproc");
    CHECK(r.exit.isolation().wall() == "pid1_kill");
    CHECK(r.exit.isolation().memory_peak() == "unknown");
    // The node answer (the gateway's /health) names it too.
    v1::ClientMessage node;
    node.mutable_node();
    Connection connection(d.daemon.socket());
    connection.send(node);
    v1::ServerMessage reply;
    REQUIRE(connection.receive(reply));
    CHECK(reply.node().has_isolation());
    CHECK(reply.node().isolation().memory() == "rlimit_as");
    check_clean(d);
}

TEST_CASE("degraded: over HTTP, memory_kb is null and isolation is in the result and in /health", "[root][degraded]") {
    Degraded d;
    GatewayProcess gateway(d.daemon.socket());
    const HttpResponse health = http_request(gateway.port(), "GET", "/health");
    INFO(health.body);
    CHECK(health.status == 200);
    const boost::json::value health_body = health.json();
    const boost::json::object& healthy = health_body.as_object();
    CHECK(healthy.at("status") == "healthy");
    REQUIRE(healthy.contains("isolation"));
    CHECK(healthy.at("isolation").at("cgroups") == false);
    CHECK(healthy.at("isolation").at("memory") == "rlimit_as");

    const HttpResponse ran = post_json(gateway.port(), "/run", R"({"command": ["/bin/echo", "hi"]})");
    INFO(ran.body);
    REQUIRE(ran.status == 200);
    const boost::json::value ran_body = ran.json();
    const boost::json::object& result = ran_body.as_object();
    CHECK(result.at("stdout") == "hi\n");
    CHECK(result.at("memory_kb").is_null());
    REQUIRE(result.contains("isolation"));
    CHECK(result.at("isolation").at("processes") == "rlimit_nproc");
    CHECK(result.at("isolation").at("memory_peak") == "unknown");
    check_clean(d);
}

TEST_CASE("degraded: a CPU spinner is stopped by RLIMIT_CPU and its CPU time is reported", "[root][degraded]") {
    Degraded d;
    const RunResult r = python(d, "while True: pass", limits(20000, 1000, 256 * 1024));
    INFO(r.out << r.err << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(r.exit.timeout_kind() == "cpu");
    CHECK(r.exit.cpu_ms() >= 900);
    CHECK(r.exit.wall_ms() < 5000);
    check_clean(d);
}

TEST_CASE("degraded: the wall limit kills the run and every child it forked", "[root][degraded]") {
    Degraded d;
    const RunResult r =
        run_sh(d.daemon.socket(), "for i in 1 2 3 4 5; do (setsid sleep 300 &); sleep 300 & done; echo started; wait",
               limits(1500, 10000, 256 * 1024));
    INFO(r.out << r.err << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(r.out == "started\n");
    CHECK(r.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(r.exit.timeout_kind() == "wall");
    check_clean(d);
}

TEST_CASE("degraded: memory past the limit cannot be allocated (RLIMIT_AS), below it can", "[root][degraded]") {
    Degraded d;
    const RunResult r = python(d, R"(
small = bytearray(64 << 20)
print('SMALL', len(small) >> 20, flush=True)
try:
    big = bytearray(400 << 20)
    print('BIG allocated')
except MemoryError:
    print('BIG refused')
)",
                               limits(20000, 10000, 256 * 1024));
    INFO(r.out << r.err << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "SMALL 64\nBIG refused\n");
    check_clean(d);
}

TEST_CASE("degraded: a file past fsize gets EFBIG", "[root][degraded]") {
    Degraded d;
    v1::Limits l = limits(10000, 5000, 256 * 1024);
    l.set_fsize_kb(1024);
    const RunResult r = python(d, R"(
import errno, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
try:
    with open('/tmp/big', 'wb') as f:
        f.write(b'x' * (4 << 20))
    print('WROTE')
except OSError as e:
    print('REFUSED', errno.errorcode[e.errno])
)",
                               l);
    INFO(r.out << r.err << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(r.out == "REFUSED EFBIG\n");
    check_clean(d);
}

TEST_CASE("degraded: a fork bomb stops at the run's RLIMIT_NPROC and leaves nothing", "[root][degraded]") {
    Degraded d;
    v1::Limits l = limits(3000, 10000, 256 * 1024);
    l.set_nproc(20);
    const RunResult r = python(d, R"(
import os, time
n, err = 0, 0
while n < 1000:
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(300)
        os._exit(0)
    n += 1
print('FORKED', n, 'ERRNO', err, flush=True)
time.sleep(300)
)",
                               l);
    INFO(r.out << r.err << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(has(r.out, "ERRNO 11\n"));  // EAGAIN
    const std::size_t at = r.out.find("FORKED ");
    REQUIRE(at != std::string::npos);
    const int forked = std::stoi(r.out.substr(at + 7));
    CHECK(forked >= 5);
    CHECK(forked < 20);
    CHECK(r.exit.status() == v1::STATUS_TIMEOUT);
    check_clean(d);
}

TEST_CASE("degraded: a run reads neither another run's workspace nor /etc/shadow", "[root][degraded]") {
    Degraded d;
    RunResult victim;
    std::thread first([&] {
        victim =
            run_sh(d.daemon.socket(), "echo DEGRADED-SECRET-4711 > /workspace/secret; sleep 3; cat /workspace/secret",
                   limits(10000, 5000, 256 * 1024));
    });
    std::this_thread::sleep_for(1s);
    const RunResult attack = python(d, R"(
import glob, os
found = []
for pattern in ['/proc/*/root/workspace/secret', '/proc/*/cwd/secret', '/workspace/secret', '/run/**/secret',
                '/tmp/**/secret']:
    for path in glob.glob(pattern, recursive=True):
        try:
            found.append(open(path).read())
        except OSError:
            pass
print('FOUND', found)
try:
    print('SHADOW', open('/etc/shadow').read()[:20])
except OSError as e:
    print('SHADOW refused', e.errno)
)",
                                    limits(10000, 5000, 256 * 1024));
    first.join();
    INFO(attack.out << attack.err << victim.out << victim.err);
    REQUIRE(attack.has_exit);
    CHECK(attack.exit.status() == v1::STATUS_OK);
    CHECK(has(attack.out, "FOUND []\n"));
    CHECK_FALSE(has(attack.out, "DEGRADED-SECRET"));
    CHECK(has(attack.out, "SHADOW refused"));
    CHECK(victim.out == "DEGRADED-SECRET-4711\n");  // the victim's file was there the whole time
    check_clean(d);
}

}  // namespace jaild::test
