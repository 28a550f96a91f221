// Properties of one sandbox, each tried for real through a real jaild: what the program sees, what it may
// not do, and how its end is reported.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "tests/support/harness.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

TEST_CASE("hello world runs and exits 0", "[root][sandbox]") {
    Daemon daemon;
    const RunResult r = run(daemon.socket(), run_message({"echo", "hello"}));
    REQUIRE(r.has_exit);
    CHECK(r.out == "hello\n");
    CHECK(r.err.empty());
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.exit.exit_code() == 0);
    CHECK(r.exit.signal() == 0);
    CHECK(r.exit.wall_ms() < 5000);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("stdout and stderr are separate and streamed live", "[root][sandbox]") {
    Daemon daemon;
    const RunResult r = run_sh(daemon.socket(), "echo first; echo oops >&2; sleep 1.5; echo second");
    REQUIRE(r.has_exit);
    CHECK(r.out == "first\nsecond\n");
    CHECK(r.err == "oops\n");
    // The first chunk must arrive while the program still sleeps, long before it ends.
    auto first = std::find_if(r.events.begin(), r.events.end(), [](const Event& e) { return e.message.has_output(); });
    REQUIRE(first != r.events.end());
    CHECK(first->message.output().data() == "first\n");
    CHECK(r.events.back().at - first->at > 1000ms);
}

TEST_CASE("exit code and signal are reported", "[root][sandbox]") {
    Daemon daemon;
    RunResult r = run_sh(daemon.socket(), "exit 7");
    CHECK(r.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(r.exit.exit_code() == 7);
    CHECK(r.exit.signal() == 0);

    r = run_sh(daemon.socket(), "kill -SEGV $$");
    CHECK(r.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(r.exit.signal() == SIGSEGV);
    CHECK(r.exit.signal_name() == "SIGSEGV");
    CHECK(r.exit.exit_code() == 128 + SIGSEGV);

    r = run(daemon.socket(), run_message({"no-such-program"}));
    CHECK(r.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(r.exit.exit_code() == 127);
    CHECK_THAT(r.exit.error(), Catch::Contains("No such file"));
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("the program is in its own PID namespace", "[root][sandbox]") {
    Daemon daemon;
    // The reaper is PID 1, the program PID 2; no host process is visible.
    const RunResult r = run_sh(daemon.socket(), "echo $$; ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '");
    CHECK(r.out.rfind("2\n", 0) == 0);
    const std::string pids = r.out.substr(2);
    CHECK(pids.find(std::to_string(::getpid())) == std::string::npos);
    CHECK(pids.size() < 20);  // 1, 2 and the few pipeline processes
}

TEST_CASE("no network: only lo, and the host's 127.0.0.1 listener is unreachable", "[root][sandbox]") {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t len = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &len);
    REQUIRE(::listen(listener, 4) == 0);
    const int port = ntohs(address.sin_port);

    Daemon daemon;
    const RunResult r =
        run(daemon.socket(),
            run_message({"python3", "-c",
                         "import socket, sys\n"
                         "print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n"
                         "s = socket.socket(); s.settimeout(2)\n"
                         "try:\n    s.connect(('127.0.0.1', " +
                             std::to_string(port) +
                             "))\n"
                             "    print('connected')\n"
                             "except OSError as e:\n    print('refused', e.errno)\n"}));
    CHECK(r.out.find("['lo']") != std::string::npos);
    CHECK(r.out.find("refused") != std::string::npos);
    CHECK(r.out.find("connected") == std::string::npos);
    ::close(listener);
}

TEST_CASE("system directories are read-only and host secrets invisible", "[root][sandbox]") {
    Daemon daemon;
    const RunResult r =
        run_sh(daemon.socket(),
               "for d in / /usr /etc /bin /dev /proc/sys; do touch $d/jaild-x 2>/dev/null && echo WROTE $d; done;"
               "cat /etc/shadow 2>/dev/null && echo READ-SHADOW;"
               "for d in /root /home /var /run /sys /boot; do ls $d >/dev/null 2>&1 && echo SEES $d; done;"
               "echo done");
    CHECK(r.out == "done\n");
    CHECK(::access("/usr/jaild-x", F_OK) != 0);
}

TEST_CASE("/tmp is writable and limited in size", "[root][sandbox]") {
    Daemon daemon;
    v1::Limits l;
    l.set_tmp_kb(1024);
    const RunResult r = run_sh(daemon.socket(),
                               "head -c 512K /dev/zero > /tmp/a && echo small-ok;"
                               "head -c 2M /dev/zero > /tmp/b 2>/dev/null || echo big-refused;"
                               "echo w > /workspace/f && echo workspace-ok",
                               l);
    CHECK(r.out == "small-ok\nbig-refused\nworkspace-ok\n");
}

TEST_CASE("runs use unprivileged, distinct uids", "[root][sandbox]") {
    Daemon daemon;
    std::vector<RunResult> results(3);
    std::vector<std::thread> threads;
    for (auto& result : results) threads.emplace_back([&] { result = run_sh(daemon.socket(), "id -u; sleep 1"); });
    for (auto& t : threads) t.join();
    std::set<std::string> uids;
    for (const auto& r : results) {
        REQUIRE(r.has_exit);
        CHECK(r.out != "0\n");
        CHECK(std::to_string(r.uid) + "\n" == r.out);
        uids.insert(r.out);
    }
    CHECK(uids.size() == 3);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("no capabilities, no_new_privs and seccomp are in force", "[root][sandbox]") {
    Daemon daemon;
    const RunResult r = run_sh(daemon.socket(),
                               "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status");
    CHECK(r.out ==
          "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
          "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n");
}

TEST_CASE("unshare, mount, ptrace, keyctl and bpf are refused", "[root][sandbox][security]") {
    Daemon daemon;
    // Raw syscalls (x86-64 numbers) so no library can hide the answer; each must fail with EPERM.
    const RunResult r = run(
        daemon.socket(), run_message({"python3", "-c",
                                      "import ctypes, os\n"
                                      "libc = ctypes.CDLL(None, use_errno=True)\n"
                                      "calls = {'unshare': (272, 0x10000000), 'mount': (165, 0, 0, 0, 0, 0),\n"
                                      "         'ptrace': (101, 16, 1, 0, 0), 'keyctl': (250, 0, 0, 0, 0),\n"
                                      "         'bpf': (321, 0, 0, 0), 'clone-newns': (56, 0x20000 | 17, 0, 0, 0, 0),\n"
                                      "         'personality': (135, 0x0040000)}\n"
                                      "for name, args in calls.items():\n"
                                      "    rc = libc.syscall(*[ctypes.c_long(a) for a in args])\n"
                                      "    print(name, rc, os.strerror(ctypes.get_errno()))\n"}));
    for (const char* name : {"unshare", "mount", "ptrace", "keyctl", "bpf", "clone-newns", "personality"})
        CHECK_THAT(r.out, Catch::Contains(std::string(name) + " -1 Operation not permitted"));
    CHECK(r.exit.status() == v1::STATUS_OK);
}

TEST_CASE("the CPU limit stops a busy loop as a timeout", "[root][sandbox][limits]") {
    Daemon daemon;
    const RunResult r = run_sh(daemon.socket(), "while :; do :; done", limits(10000, 500));
    CHECK(r.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(r.exit.timeout_kind() == "cpu");
    CHECK(r.exit.cpu_ms() >= 500);
    CHECK(r.exit.wall_ms() < 5000);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("the wall-clock limit stops a sleeper as a timeout", "[root][sandbox][limits]") {
    Daemon daemon;
    const RunResult r = run(daemon.socket(), run_message({"sleep", "30"}, limits(700)));
    CHECK(r.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(r.exit.timeout_kind() == "wall");
    CHECK(r.exit.wall_ms() >= 700);
    CHECK(r.exit.wall_ms() < 3000);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("the memory limit is enforced and the OOM kill detected", "[root][sandbox][limits]") {
    Daemon daemon;
    const RunResult r = run(
        daemon.socket(),
        run_message({"python3", "-c", "x = bytearray(300 * 1024 * 1024); print('survived')"}, limits(0, 0, 64 * 1024)));
    CHECK(r.exit.status() == v1::STATUS_MEMORY_LIMIT);
    CHECK(r.out.find("survived") == std::string::npos);
    CHECK(r.exit.memory_kb() > 32 * 1024);
    CHECK(r.exit.memory_kb() <= 64 * 1024 + 64);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("output past the per-stream cap kills the run as output_limit", "[root][sandbox][limits]") {
    Daemon daemon;
    v1::Limits l;
    l.set_output_bytes(10000);
    const RunResult r = run(daemon.socket(), run_message({"yes"}, l));
    CHECK(r.exit.status() == v1::STATUS_OUTPUT_LIMIT);
    CHECK(r.out.size() == 10000);
    CHECK(r.exit.stdout_truncated());
    CHECK_FALSE(r.exit.stderr_truncated());
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("programs start with umask 022 whatever jaild's own umask is", "[root][sandbox]") {
    const mode_t previous = ::umask(077);  // the daemon inherits it, as under UMask=0077 in jaild.service
    Daemon daemon;
    ::umask(previous);
    const RunResult r = run_sh(daemon.socket(), "umask; touch /tmp/f; stat -c %a /tmp/f");
    CHECK(r.out == "0022\n644\n");
}
