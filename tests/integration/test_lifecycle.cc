// How runs begin and end through a real jaild: limits that stop hostile programs, what survives a run (nothing),
// what a client's leaving, Cancel, a dying or stopping jaild do to a run, and how jaild answers broken, hostile
// or unauthorised clients while it keeps serving the others.
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <sstream>

#include "common/framing.h"
#include "tests/support/harness.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ms_since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Reads until the run's Started and returns it; fails the test on anything else.
v1::Started wait_started(Connection& connection) {
    v1::ServerMessage message;
    REQUIRE(connection.receive(message, 10s));
    INFO("message kind " << message.kind_case() << ", error: " << message.error().message());
    REQUIRE(message.has_started());
    return message.started();
}

// The first answer to a request sent on a new connection (for requests answered with one message).
v1::ServerMessage first_answer(const std::string& socket, const std::string& raw_bytes) {
    Connection connection(socket);
    REQUIRE(connection.fd() >= 0);
    connection.send_raw(raw_bytes);
    v1::ServerMessage message;
    REQUIRE(connection.receive(message, 5s));
    return message;
}

std::string header(std::uint32_t length) {
    const auto bytes = framing::encode_header(length);
    return std::string(bytes.begin(), bytes.end());
}

bool running(pid_t pid) {
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) == 0;
}

std::vector<pid_t> processes_of_uid(std::uint32_t uid) {
    std::vector<pid_t> found;
    for (pid_t pid : sandbox_processes()) {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("Uid:", 0) != 0) continue;
            std::uint32_t real = 0;
            std::istringstream(line.substr(4)) >> real;
            if (real == uid) found.push_back(pid);
            break;
        }
    }
    return found;
}

void check_hello(const std::string& socket) {
    const RunResult r = run(socket, run_message({"echo", "hello"}));
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "hello\n");
}

// What a forked client, running as `uid`, got from jaild for a hello run: "error CODE" or "exit STATUS OUT".
std::string run_as(std::uint32_t uid, const std::string& socket) {
    int report[2];
    REQUIRE(::pipe(report) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(report[0]);
        if (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(1);
        std::string answer = "no answer";
        Connection connection(socket);
        if (connection.fd() < 0) {
            answer = "cannot connect";
        } else {
            connection.send(run_message({"echo", "hello"}));
            const RunResult r = receive_run(connection, 10s);
            if (r.has_error) answer = "error " + v1::ErrorCode_Name(r.error.code());
            if (r.has_exit) answer = "exit " + v1::Status_Name(r.exit.status()) + " " + r.out;
        }
        (void)!::write(report[1], answer.data(), answer.size());
        ::_exit(0);
    }
    ::close(report[1]);
    std::string answer;
    char buffer[256];
    for (ssize_t n; (n = ::read(report[0], buffer, sizeof buffer)) > 0;) answer.append(buffer, static_cast<size_t>(n));
    ::close(report[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    return answer;
}

constexpr std::uint32_t kNobody = 65534;

}  // namespace

TEST_CASE("a fork bomb is contained by nproc and leaves nothing behind", "[root][lifecycle][security]") {
    Daemon daemon;
    v1::Limits l = limits(3000);
    l.set_nproc(32);
    // Every process forks for ever and retries failed forks. The host's view of the run is sampled meanwhile.
    auto bomb = std::async(std::launch::async, [&] {
        return run(daemon.socket(), run_message({"python3", "-c",
                                                 "import os\n"
                                                 "while True:\n"
                                                 "    try:\n"
                                                 "        os.fork()\n"
                                                 "    except OSError:\n"
                                                 "        pass\n"},
                                                l));
    });
    std::size_t peak = 0;
    while (bomb.wait_for(20ms) != std::future_status::ready) peak = std::max(peak, sandbox_processes().size());
    const RunResult r = bomb.get();
    CHECK(peak > 16);   // it did explode...
    CHECK(peak <= 32);  // ...up to the limit (the reaper included), never past it
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() != v1::STATUS_INTERNAL_ERROR);
    CHECK(r.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(r.exit.wall_ms() < 5000);
    check_hello(daemon.socket());
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 3s));

    // The shell's classic form: the function name may not be ':' in dash, which keeps the builtin.
    const RunResult shell_bomb = run_sh(daemon.socket(), "b() { b | b & }; b; sleep 1", l);
    REQUIRE(shell_bomb.has_exit);
    CHECK(shell_bomb.exit.status() != v1::STATUS_INTERNAL_ERROR);
    CHECK_THAT(shell_bomb.err, Catch::Contains("Cannot fork"));
    CHECK(shell_bomb.exit.wall_ms() < 5000);
    check_hello(daemon.socket());
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("nproc caps the processes of a run", "[root][lifecycle]") {
    Daemon daemon;
    v1::Limits l;
    l.set_nproc(10);
    // Forks children that stay alive until 30 exist or fork fails; prints how many it got.
    const RunResult r = run(daemon.socket(), run_message({"python3", "-c",
                                                          "import os, time\n"
                                                          "n = 0\n"
                                                          "try:\n"
                                                          "    while n < 30:\n"
                                                          "        if os.fork() == 0:\n"
                                                          "            time.sleep(30)\n"
                                                          "            os._exit(0)\n"
                                                          "        n += 1\n"
                                                          "except OSError as e:\n"
                                                          "    print('refused', e.errno)\n"
                                                          "print(n)\n"},
                                                         l));
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK_THAT(r.out, Catch::StartsWith("refused 11\n"));  // EAGAIN
    const int forked = std::stoi(r.out.substr(r.out.find('\n') + 1));
    CHECK(forked > 0);
    CHECK(forked < 10);  // the reaper and the program count too
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("fsize stops a large write with SIGXFSZ, or EFBIG when the signal is ignored", "[root][lifecycle]") {
    Daemon daemon;
    v1::Limits l;
    l.set_fsize_kb(1024);
    RunResult r = run_sh(daemon.socket(), "exec dd if=/dev/zero of=/tmp/big bs=64k count=32", l);
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(r.exit.signal() == SIGXFSZ);
    CHECK(r.exit.signal_name() == "SIGXFSZ");
    CHECK(r.exit.exit_code() == 128 + SIGXFSZ);

    r = run(daemon.socket(), run_message({"python3", "-c",
                                          "import errno, os, signal\n"
                                          "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                                          "fd = os.open('/tmp/big', os.O_WRONLY | os.O_CREAT)\n"
                                          "block = bytes(64 * 1024)\n"
                                          "try:\n"
                                          "    for _ in range(32):\n"
                                          "        os.write(fd, block)\n"
                                          "    print('wrote all')\n"
                                          "except OSError as e:\n"
                                          "    print(errno.errorcode[e.errno], os.fstat(fd).st_size)\n"},
                                         l));
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "EFBIG 1048576\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("nofile makes opening files fail with EMFILE", "[root][lifecycle]") {
    Daemon daemon;
    v1::Limits l;
    l.set_nofile(20);
    const RunResult r = run(daemon.socket(), run_message({"python3", "-c",
                                                          "import errno\n"
                                                          "files = []\n"
                                                          "try:\n"
                                                          "    for _ in range(100):\n"
                                                          "        files.append(open('/dev/null'))\n"
                                                          "    print('opened all')\n"
                                                          "except OSError as e:\n"
                                                          "    print(errno.errorcode[e.errno], len(files))\n"},
                                                         l));
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    REQUIRE_THAT(r.out, Catch::StartsWith("EMFILE "));
    const int opened = std::stoi(r.out.substr(7));
    CHECK(opened > 5);
    CHECK(opened < 20);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("a double-forked setsid daemon does not outlive its run", "[root][lifecycle][security]") {
    Daemon daemon;
    // A real daemon: new session, parent gone, stdio on /dev/null, so no pipe keeps the run open.
    const RunResult r = run_sh(daemon.socket(),
                               "setsid sh -c 'sleep 100 </dev/null >/dev/null 2>&1 & echo $! > /tmp/pid';"
                               "sleep 0.2; kill -0 $(cat /tmp/pid) && echo daemon-running; exit 0");
    REQUIRE(r.has_exit);
    CHECK(r.out == "daemon-running\n");
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.exit.wall_ms() < 3000);
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 2s));
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("concurrent runs cannot see, signal or read each other", "[root][lifecycle][security]") {
    Daemon daemon;
    Connection a(daemon.socket());
    REQUIRE(a.fd() >= 0);
    // A sleeps long enough for B to finish even on a loaded 2-core machine.
    a.send(shell("echo secret-a > /workspace/a; echo secret-a > /tmp/a; sleep 5; cat /workspace/a /tmp/a; echo alive"));
    const v1::Started a_started = wait_started(a);
    REQUIRE(wait_until([&] { return processes_of_uid(a_started.uid()).size() >= 2; }, 4s));

    // B sees only itself in /proc, kills all it can, then is handed A's host pids (as if it guessed them).
    std::string script = "ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo; kill -9 -1; echo killed-all; for p in";
    for (pid_t pid : processes_of_uid(a_started.uid())) script += " " + std::to_string(pid);
    script +=
        "; do kill -9 $p 2>/dev/null && echo KILLED $p; done;"
        "cat /workspace/a /tmp/a 2>/dev/null && echo READ;"
        "grep -rs secret-a /workspace /tmp /dev/shm /run /var && echo FOUND;"
        "echo done";
    const RunResult b = run_sh(daemon.socket(), script);
    REQUIRE(b.has_exit);
    CHECK(b.uid != a_started.uid());
    INFO(b.out);
    std::istringstream pids(b.out.substr(0, b.out.find('\n')));
    int pid_count = 0;
    for (int pid; pids >> pid; ++pid_count) CHECK(pid < 20);  // its own few processes, nobody else's
    CHECK(pid_count > 0);
    CHECK(b.out.substr(b.out.find('\n') + 1) == "killed-all\ndone\n");

    const RunResult a_result = receive_run(a, 10s);
    REQUIRE(a_result.has_exit);
    CHECK(a_result.exit.status() == v1::STATUS_OK);
    CHECK(a_result.out == "secret-a\nsecret-a\nalive\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("a client that disconnects takes its run and cgroup with it within a second", "[root][lifecycle]") {
    Daemon daemon;
    Connection connection(daemon.socket());
    REQUIRE(connection.fd() >= 0);
    connection.send(run_message({"sleep", "100"}));
    wait_started(connection);
    // Started comes before setuid, and a warm sandbox's cgroup counts as the run's once its process has left
    // the waiting state: wait for both.
    REQUIRE(wait_until([] { return !sandbox_processes().empty() && !job_cgroups().empty(); }, 2s));

    const auto closed = Clock::now();
    connection.close();
    const bool gone = wait_until([] { return job_cgroups().empty() && sandbox_processes().empty(); }, 3s);
    const auto elapsed = ms_since(closed);
    CHECK(gone);
    CHECK(elapsed < 1000);
    check_hello(daemon.socket());
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("kill -9 of jaild kills its sandboxes, and the next jaild removes stale cgroups", "[root][lifecycle]") {
    Daemon first;
    Connection connection(first.socket());
    REQUIRE(connection.fd() >= 0);
    connection.send(run_message({"sleep", "100"}));
    wait_started(connection);
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 2s));

    const auto killed = Clock::now();
    first.kill9();
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 3s));
    CHECK(ms_since(killed) < 1000);
    connection.close();

    Daemon second;
    CHECK(job_cgroups().empty());  // removed at start-up, before the socket listened
    check_hello(second.socket());
    check_nothing_left(first.run_dir());
    check_nothing_left(second.run_dir());
}

namespace {

// A C++ program whose compile step takes long enough to be interrupted (g++ on <iostream> and <regex>).
v1::ClientMessage slow_compile() {
    v1::ClientMessage message;
    message.mutable_execute()->set_language("cpp");
    message.mutable_execute()->set_code(
        "#include <iostream>\n#include <regex>\n#include <map>\nint main() { std::map<int, std::regex> m; "
        "std::cout << m.size(); }\n");
    return message;
}

bool compiling() {
    for (pid_t pid : sandbox_processes()) {
        std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
        std::string name;
        if (comm >> name && name.rfind("cc1plus", 0) == 0) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("a client that leaves during a compile step takes it, its workspace and its uid with it",
          "[root][lifecycle][languages]") {
    Daemon daemon;
    Connection connection(daemon.socket());
    connection.send(slow_compile());
    wait_started(connection);
    REQUIRE(wait_until(compiling, 5s));
    connection.close();
    CHECK(wait_until([] { return job_cgroups().empty() && sandbox_processes().empty(); }, 3s));
    check_hello(daemon.socket());
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("kill -9 of jaild during a compile step leaves no process, mount or directory",
          "[root][lifecycle][languages]") {
    Daemon first;
    Connection connection(first.socket());
    connection.send(slow_compile());
    wait_started(connection);
    REQUIRE(wait_until(compiling, 5s));
    first.kill9();
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 3s));
    connection.close();
    Daemon second;
    check_hello(second.socket());
    check_nothing_left(first.run_dir());  // the workspace's mount point lived on jaild's own tmpfs
    check_nothing_left(second.run_dir(), second.pid());
}

TEST_CASE("SIGTERM ends running jobs with an Exit and jaild exits 0", "[root][lifecycle]") {
    Daemon daemon;
    Connection connection(daemon.socket());
    REQUIRE(connection.fd() >= 0);
    connection.send(run_message({"sleep", "100"}));
    wait_started(connection);

    const auto stopping = Clock::now();
    auto status = std::async(std::launch::async, [&] { return daemon.terminate(); });
    const RunResult r = receive_run(connection, 10s);
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_INTERNAL_ERROR);
    CHECK_THAT(r.exit.error(), Catch::Contains("shutting down"));
    const int wait_status = status.get();
    CHECK(ms_since(stopping) < 3000);
    CHECK(WIFEXITED(wait_status));
    CHECK(WEXITSTATUS(wait_status) == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("broken, oversized and invalid requests are refused while another run goes on",
          "[root][lifecycle][security]") {
    Daemon daemon("", "request_timeout_ms = 500");
    auto runner = std::async(std::launch::async, [&] { return run_sh(daemon.socket(), "sleep 2; echo ok"); });
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 5s));

    // B: a well-framed payload that is not a protobuf message (an unterminated varint).
    v1::ServerMessage answer = first_answer(daemon.socket(), header(11) + std::string(11, '\xff'));
    REQUIRE(answer.has_error());
    CHECK(answer.error().code() == v1::ERROR_CODE_PROTOCOL);

    // C: a header announcing 4 GiB: refused without reading it, and the connection is closed.
    {
        Connection c(daemon.socket());
        REQUIRE(c.fd() >= 0);
        c.send_raw(header(0xFFFFFFFF));
        REQUIRE(c.receive(answer, 5s));
        REQUIRE(answer.has_error());
        CHECK(answer.error().code() == v1::ERROR_CODE_PROTOCOL);
        CHECK_THAT(answer.error().message(), Catch::Contains("larger than the maximum"));
        const auto start = Clock::now();
        CHECK_FALSE(c.receive(answer, 5s));
        CHECK(ms_since(start) < 1000);  // EOF, not a timeout
    }

    // D: a frame cut short by the client's leaving.
    {
        Connection d(daemon.socket());
        REQUIRE(d.fd() >= 0);
        d.send_raw(header(100) + std::string(10, 'x'));
    }

    // E: a message without a request.
    v1::ClientMessage empty;
    answer = first_answer(daemon.socket(), framing::encode(empty));
    REQUIRE(answer.has_error());
    CHECK(answer.error().code() == v1::ERROR_CODE_PROTOCOL);

    // F: invalid arguments name the field at fault.
    answer = first_answer(daemon.socket(), framing::encode(run_message({})));
    REQUIRE(answer.has_error());
    CHECK(answer.error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK(answer.error().field() == "argv");
    answer = first_answer(daemon.socket(), framing::encode(run_message({"true"}, limits(0, 1'000'000))));
    REQUIRE(answer.has_error());
    CHECK(answer.error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK(answer.error().field() == "limits.cpu_ms");

    // G: a client that connects and says nothing.
    answer = first_answer(daemon.socket(), "");
    REQUIRE(answer.has_error());
    CHECK(answer.error().code() == v1::ERROR_CODE_PROTOCOL);
    CHECK_THAT(answer.error().message(), Catch::Contains("in time"));

    CHECK(running(daemon.pid()));
    check_hello(daemon.socket());
    const RunResult a = runner.get();
    REQUIRE(a.has_exit);
    CHECK(a.exit.status() == v1::STATUS_OK);
    CHECK(a.out == "ok\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("a peer that is neither root nor allowed is refused", "[root][lifecycle][security]") {
    {
        Daemon daemon("", "socket_mode = 0o666");
        CHECK(run_as(kNobody, daemon.socket()) == "error ERROR_CODE_PERMISSION_DENIED");
        check_hello(daemon.socket());
        check_nothing_left(daemon.run_dir());
    }
    Daemon daemon("", "socket_mode = 0o666\nallowed_uids = [65534]");
    CHECK(run_as(kNobody, daemon.socket()) == "exit STATUS_OK hello\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("Cancel stops a run with status cancelled", "[root][lifecycle]") {
    Daemon daemon;
    Connection connection(daemon.socket());
    REQUIRE(connection.fd() >= 0);
    connection.send(run_message({"sleep", "100"}));
    wait_started(connection);
    v1::ClientMessage cancel;
    cancel.mutable_cancel();
    const auto sent = Clock::now();
    connection.send(cancel);
    const RunResult r = receive_run(connection, 10s);
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_CANCELLED);
    CHECK(r.exit.signal_name() == "SIGKILL");
    CHECK(ms_since(sent) < 1000);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("stdin is given whole or streamed in chunks", "[root][lifecycle]") {
    Daemon daemon;
    v1::ClientMessage whole = run_message({"cat"});
    whole.mutable_run()->set_stdin("abc");
    RunResult r = run(daemon.socket(), whole);
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "abc");

    // Streamed: the first line must come back before the rest is sent, so the program reads as data arrives.
    Connection connection(daemon.socket());
    REQUIRE(connection.fd() >= 0);
    v1::ClientMessage streamed = run_message({"cat"});
    streamed.mutable_run()->set_stdin_stream(true);
    connection.send(streamed);
    wait_started(connection);
    v1::ClientMessage chunk;
    chunk.mutable_stdin()->set_data("one\n");
    connection.send(chunk);
    v1::ServerMessage echoed;
    REQUIRE(connection.receive(echoed, 5s));
    REQUIRE(echoed.has_output());
    CHECK(echoed.output().data() == "one\n");
    chunk.mutable_stdin()->set_data("two\n");
    connection.send(chunk);
    chunk.mutable_stdin()->set_data("");
    chunk.mutable_stdin()->set_eof(true);
    connection.send(chunk);
    r = receive_run(connection, 10s);
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    CHECK(r.out == "two\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("max_jobs refuses a run past the limit until a slot is free", "[root][lifecycle]") {
    Daemon daemon("", "max_jobs = 2");
    std::vector<std::unique_ptr<Connection>> busy;
    for (int i = 0; i < 2; ++i) {
        busy.push_back(std::make_unique<Connection>(daemon.socket()));
        REQUIRE(busy.back()->fd() >= 0);
        busy.back()->send(run_message({"sleep", "100"}));
        wait_started(*busy.back());
    }
    const RunResult refused = run(daemon.socket(), run_message({"echo", "hello"}));
    REQUIRE(refused.has_error);
    CHECK(refused.error.code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED);

    v1::ClientMessage cancel;
    cancel.mutable_cancel();
    for (auto& connection : busy) {
        connection->send(cancel);
        const RunResult r = receive_run(*connection, 10s);
        REQUIRE(r.has_exit);
        CHECK(r.exit.status() == v1::STATUS_CANCELLED);
    }
    check_hello(daemon.socket());
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("a second jaild starting beside a running one leaves the first one's runs alone", "[root][lifecycle]") {
    Daemon first;
    Connection connection(first.socket());
    connection.send(shell("sleep 1.5; echo survived"));
    wait_started(connection);
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, 2s));
    Daemon second;  // its stale-cgroup sweep sees the first's job cgroup, owned by a live jaild
    const RunResult result = receive_run(connection);
    REQUIRE(result.has_exit);
    CHECK(result.exit.status() == v1::STATUS_OK);
    CHECK(result.out == "survived\n");
    check_nothing_left(first.run_dir(), first.pid());
}
