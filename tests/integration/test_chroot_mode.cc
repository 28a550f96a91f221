// Chroot mode ([sandbox] isolation = "chroot", docs/security.md "Chroot mode"): jaild where the host refuses
// namespaces, as Cloud Run does. jaild runs here under tests/restricted/seccomp_exec's namespaces-eperm filter
// (every clone, clone3 and unshare asking for a namespace, and setns, answer EPERM), in a mount namespace the
// test makes first so that the runs' roots, built in jaild's own namespace, stay out of the host's. Every limit
// and every separation is tried for real.
#include <sys/stat.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
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

// An executable script that starts build/bin/jaild (with its arguments) where namespaces are refused, in a mount
// namespace of its own; `hide_cgroups`: with an empty tmpfs on /sys/fs/cgroup too (Cloud Run has neither).
std::string chroot_host_jaild(const TempDir& dir, bool hide_cgroups = false) {
    const std::string path = dir.path() + "/jaild-without-namespaces";
    std::ofstream script(path);
    script << "#!/bin/sh\nexec unshare --mount --propagation private /bin/sh -c '";
    if (hide_cgroups)
        script << "umount --recursive --lazy /sys/fs/cgroup 2>/dev/null; "
               << "mount -t tmpfs -o size=4k,mode=0555 no-cgroups /sys/fs/cgroup || exit 99; ";
    script << "exec \"$0\" namespaces-eperm -- \"$@\"' " << bin("seccomp_exec") << " " << bin("jaild") << " \"$@\"\n";
    script.close();
    ::chmod(path.c_str(), 0755);
    return path;
}

struct ChrootHost {
    explicit ChrootHost(const std::string& extra = "isolation = \"chroot\"\n", bool hide_cgroups = false)
        : daemon(Daemon::Binary{chroot_host_jaild(dir, hide_cgroups)}, extra) {}
    TempDir dir;
    Daemon daemon;
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

RunResult python(const ChrootHost& h, const std::string& source, v1::Limits limits) {
    return run(h.daemon.socket(), run_message({"/usr/bin/python3", "-c", source}, limits));
}

// Nothing of the daemon's runs is left: no process of the sandbox uids (chroot mode kills them by uid), no
// cgroup, workspace or mount (check_nothing_left), no run's root under <run_dir>/roots and none of their mounts
// in jaild's namespace (only the private mount of <run_dir>/roots itself).
void check_clean(const ChrootHost& h) {
    CHECK(wait_until([] { return pool_processes().empty(); }, 5s));
    check_nothing_left(h.daemon.run_dir(), h.daemon.pid());
    const std::string roots = h.daemon.run_dir() + "/roots";
    CHECK(wait_until([&] { return std::filesystem::is_empty(roots); }, 3s));
    std::ifstream mountinfo("/proc/" + std::to_string(h.daemon.pid()) + "/mountinfo");
    std::string line;
    while (std::getline(mountinfo, line)) {
        INFO(line);
        CHECK_FALSE(has(line, roots + "/"));
    }
}

}  // namespace

TEST_CASE("chroot mode: where namespaces are refused, jaild without the key refuses and names it", "[root][chroot]") {
    TempDir dir;
    std::string message;
    try {
        Daemon daemon(Daemon::Binary{chroot_host_jaild(dir)}, "");
    } catch (const std::runtime_error& e) {
        message = e.what();
    }
    INFO(message);
    CHECK(has(message, "jaild exited at start"));
    CHECK(has(message, "missing: pid namespace: Operation not permitted"));
    CHECK(has(message, "set `[sandbox] isolation = \"chroot\"` in jaild.toml"));
}

TEST_CASE("chroot mode: python runs in a root of its own, and the answer and the node say how it is isolated",
          "[root][chroot]") {
    ChrootHost h;
    CHECK(has(h.daemon.log(), "chroot mode ([sandbox] isolation = \"chroot\")"));
    const RunResult r = python(h, R"(
import os
print(os.getuid() != 0, os.getcwd(), sorted(os.listdir('/tmp')), sorted(os.listdir('/workspace')))
print(os.path.exists('/home'), os.path.exists('/root'), os.path.exists('/var'))
# Without a PID namespace the host's processes exist, but its /proc shows only this run's uid.
mine = os.getuid()
print(all(os.stat('/proc/' + p).st_uid == mine for p in os.listdir('/proc') if p.isdigit()))
open('/workspace/out.txt', 'w').write('written')
# No network namespace: without allow_network the seccomp policy leaves only Unix sockets, and no IPC namespace:
# System V IPC, which would outlive the run, is refused.
import socket, errno, ctypes
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError as e:
    print('INET', errno.errorcode[e.errno])
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
libc = ctypes.CDLL(None, use_errno=True)
print('SHM', libc.shmget(0, 4096, 0o1600), errno.errorcode[ctypes.get_errno()])
try:
    open('/usr/jaild-test', 'w')
except OSError as e:
    print('USR', e.errno)
)",
                               limits(10000, 5000, 256 * 1024));
    INFO(r.out << r.err << r.error.message() << h.daemon.log());
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "True /workspace [] []\nFalse False False\nTrue\nINET EAFNOSUPPORT\nSHM -1 EPERM\nUSR 30\n");
    CHECK(r.exit.memory_kb() > 0);  // this host has cgroups: they still measure and limit
    REQUIRE(r.exit.has_isolation());
    CHECK(r.exit.isolation().root() == "chroot");
    CHECK_FALSE(r.exit.isolation().namespaces());
    CHECK(r.exit.isolation().wall() == "uid_kill");
    CHECK(r.exit.isolation().cgroups());
    CHECK(r.exit.isolation().memory() == "cgroup");
    v1::ClientMessage node;
    node.mutable_node();
    Connection connection(h.daemon.socket());
    connection.send(node);
    v1::ServerMessage reply;
    REQUIRE(connection.receive(reply));
    REQUIRE(reply.node().has_isolation());
    CHECK(reply.node().isolation().root() == "chroot");
    check_clean(h);
}

TEST_CASE("chroot mode: over HTTP, a numpy main() answers and /health and the result name the isolation",
          "[root][chroot]") {
    ChrootHost h;
    GatewayProcess gateway(h.daemon.socket());
    const HttpResponse health = http_request(gateway.port(), "GET", "/health");
    INFO(health.body);
    CHECK(health.status == 200);
    const boost::json::value health_body = health.json();
    REQUIRE(health_body.as_object().contains("isolation"));
    CHECK(health_body.at("isolation").at("root") == "chroot");
    CHECK(health_body.at("isolation").at("namespaces") == false);

    const HttpResponse ran = post_json(gateway.port(), "/execute",
                                       R"({"script": "import numpy as np\ndef main():\n)"
                                       R"(    return {\"sum\": int(np.arange(10).sum())}\n"})");
    INFO(ran.body << h.daemon.log());
    REQUIRE(ran.status == 200);
    const boost::json::value body = ran.json();
    CHECK(body.at("status") == "ok");
    CHECK(boost::json::serialize(body.at("result")) == R"({"sum":45})");
    REQUIRE(body.as_object().contains("isolation"));
    CHECK(body.at("isolation").at("wall") == "uid_kill");
    check_clean(h);
}

TEST_CASE("chroot mode: CPU, memory and file-size limits stop the run", "[root][chroot]") {
    ChrootHost h;
    const RunResult spin = python(h, "while True: pass", limits(20000, 1000, 256 * 1024));
    INFO(spin.out << spin.err << spin.error.message());
    REQUIRE(spin.has_exit);
    CHECK(spin.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(spin.exit.timeout_kind() == "cpu");

    const RunResult memory =
        python(h, "x = bytearray(400 << 20)\nprint('ALLOCATED')", limits(20000, 10000, 128 * 1024));
    INFO(memory.out << memory.err);
    REQUIRE(memory.has_exit);
    CHECK(memory.exit.status() == v1::STATUS_MEMORY_LIMIT);
    CHECK_FALSE(has(memory.out, "ALLOCATED"));

    v1::Limits l = limits(10000, 5000, 256 * 1024);
    l.set_fsize_kb(1024);
    const RunResult file = python(h, R"(
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
    INFO(file.out << file.err);
    REQUIRE(file.has_exit);
    CHECK(file.out == "REFUSED EFBIG\n");
    check_clean(h);
}

TEST_CASE("chroot mode: the wall limit kills every process of the run's uid, however it was started",
          "[root][chroot]") {
    ChrootHost h;
    const RunResult r =
        run_sh(h.daemon.socket(), "for i in 1 2 3 4 5; do (setsid sleep 300 &); sleep 300 & done; echo started; wait",
               limits(1500, 10000, 256 * 1024));
    INFO(r.out << r.err << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(r.out == "started\n");
    CHECK(r.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(r.exit.timeout_kind() == "wall");
    CHECK(r.exit.wall_ms() < 5000);
    check_clean(h);
}

TEST_CASE("chroot mode: what a run leaves running when it ends is killed, and its answer comes at once",
          "[root][chroot]") {
    ChrootHost h;
    const auto started = std::chrono::steady_clock::now();
    const RunResult r = run_sh(h.daemon.socket(), "(setsid sleep 300 > /dev/null 2>&1 &); sleep 300 & echo done",
                               limits(20000, 10000, 256 * 1024));
    INFO(r.out << r.err << r.error.message());
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "done\n");
    CHECK(std::chrono::steady_clock::now() - started < 10s);
    check_clean(h);
}

TEST_CASE("chroot mode: a run reads neither another run's files nor /etc/shadow, nor signals it", "[root][chroot]") {
    ChrootHost h;
    RunResult victim;
    std::thread first([&] {
        victim = run_sh(h.daemon.socket(),
                        "echo CHROOT-SECRET-4711 > /workspace/secret; echo CHROOT-SECRET-4711 > /tmp/secret; "
                        "sleep 3; cat /workspace/secret",
                        limits(10000, 5000, 256 * 1024));
    });
    std::this_thread::sleep_for(1s);
    const RunResult attack = python(h, R"(
import glob, os, signal
found = []
for pattern in ['/proc/*/root/workspace/secret', '/proc/*/root/tmp/secret', '/proc/*/cwd/secret', '/workspace/secret',
                '/tmp/secret', '/../../*/secret', '/../../*/*/secret', '/../../*/*/*/secret']:
    for path in glob.glob(pattern):
        try:
            found.append(open(path).read())
        except OSError:
            pass
print('FOUND', found)
try:
    print('SHADOW', open('/etc/shadow').read()[:20])
except OSError as e:
    print('SHADOW refused', e.errno)
try:
    os.kill(-1, signal.SIGKILL)
except OSError as e:
    print('KILL', e.errno)
print('ALIVE')
)",
                                    limits(10000, 5000, 256 * 1024));
    first.join();
    INFO(attack.out << attack.err << victim.out << victim.err);
    REQUIRE(attack.has_exit);
    CHECK(attack.exit.status() == v1::STATUS_OK);
    CHECK_FALSE(has(attack.out, "CHROOT-SECRET"));
    CHECK(has(attack.out, "FOUND []\n"));
    CHECK(has(attack.out, "SHADOW refused"));
    CHECK(has(attack.out, "ALIVE\n"));  // its own PID 1 (another uid) was out of its reach too
    // kill(-1) reached only the attacker's own uid (itself excepted): the victim finished its sleep.
    CHECK(victim.exit.status() == v1::STATUS_OK);
    CHECK(victim.out == "CHROOT-SECRET-4711\n");
    check_clean(h);
}

TEST_CASE("chroot mode without cgroups too (Cloud Run): rlimits hold, peak memory is unknown, nothing is left",
          "[root][chroot]") {
    ChrootHost h("isolation = \"chroot\"\ndegraded = true\n", true);
    const RunResult hello = python(h, "print('hello')", limits(10000, 5000, 256 * 1024));
    INFO(hello.out << hello.err << hello.error.message() << h.daemon.log());
    REQUIRE(hello.has_exit);
    CHECK(hello.out == "hello\n");
    CHECK(hello.exit.memory_kb_unknown());
    REQUIRE(hello.exit.has_isolation());
    CHECK_FALSE(hello.exit.isolation().cgroups());
    CHECK(hello.exit.isolation().memory() == "rlimit_as");
    CHECK(hello.exit.isolation().root() == "chroot");
    CHECK(hello.exit.isolation().wall() == "uid_kill");

    const RunResult memory = python(h, R"(
try:
    big = bytearray(400 << 20)
    print('BIG allocated')
except MemoryError:
    print('BIG refused')
)",
                                    limits(20000, 10000, 256 * 1024));
    INFO(memory.out << memory.err);
    CHECK(memory.out == "BIG refused\n");

    const RunResult wall =
        run_sh(h.daemon.socket(), "for i in 1 2 3; do (setsid sleep 300 &); sleep 300 & done; echo started; wait",
               limits(1500, 10000, 256 * 1024));
    INFO(wall.out << wall.err);
    REQUIRE(wall.has_exit);
    CHECK(wall.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(wall.exit.timeout_kind() == "wall");
    check_clean(h);
}

}  // namespace jaild::test
