// jailctl's live-session commands as a user runs them: real jailctl processes against a real jaild, with
// `exec -t` driven through a real pseudo-terminal on jailctl's side, as a terminal emulator would.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "tests/support/harness.h"
#include "tests/support/jailctl.h"
#include "tests/support/process.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

struct Outcome {
    int exit_code = -1;  // 128 + N when jailctl itself died of signal N
    std::string out, err;
};

Outcome jailctl(const std::string& socket, const std::vector<std::string>& args, const std::string& input = "") {
    const Jailctl ran = run_jailctl({.args = args, .socket = socket, .input = input, .timeout = 30s});
    if (ran.timed_out) FAIL_CHECK("jailctl did not finish in time");
    return {ran.signal ? 128 + ran.signal : ran.exit_code, ran.out, ran.err};
}

std::string create_live(const Daemon& daemon) {
    const Outcome created = jailctl(daemon.socket(), {"sessions", "create", "--live"});
    REQUIRE(created.exit_code == 0);
    REQUIRE(created.out.size() > 1);
    return created.out.substr(0, created.out.size() - 1);
}

// The line of `sessions ps` for pid ("" when it has none).
std::string ps_line(const Daemon& daemon, const std::string& id, const std::string& pid) {
    const Outcome ps = jailctl(daemon.socket(), {"sessions", "ps", id});
    std::size_t at = 0;
    while (at < ps.out.size()) {
        const std::size_t end = ps.out.find('\n', at);
        const std::string line = ps.out.substr(at, end - at);
        if (line.rfind(pid + " ", 0) == 0) return line;
        if (end == std::string::npos) break;
        at = end + 1;
    }
    return "";
}

bool wait_status(const Daemon& daemon, const std::string& id, const std::string& pid, const std::string& status) {
    return wait_until([&] { return ps_line(daemon, id, pid).find(status) != std::string::npos; }, 10s);
}

// jailctl running with a pseudo-terminal as its stdin, stdout, stderr and controlling terminal; the test
// holds the master side, as a terminal emulator does.
class TerminalJailctl {
public:
    TerminalJailctl(const std::string& socket, const std::vector<std::string>& args, winsize size) {
        int slave = -1;
        REQUIRE(::openpty(&master_, &slave, nullptr, nullptr, &size) == 0);
        ::fcntl(master_, F_SETFD, FD_CLOEXEC);
        REQUIRE(::tcgetattr(slave, &before_) == 0);
        Launch spec{.argv = {bin("jailctl")}, .env = {"JAILD_SOCKET=" + socket}};
        spec.argv.insert(spec.argv.end(), args.begin(), args.end());
        spec.stdin_fd = spec.stdout_fd = spec.stderr_fd = slave;
        spec.controlling_terminal = true;
        pid_ = launch(spec);
        ::close(slave);
    }
    ~TerminalJailctl() {
        if (pid_ > 0) ::kill(pid_, SIGKILL), ::waitpid(pid_, nullptr, 0);
        ::close(master_);
    }

    const termios& mode_before() const { return before_; }
    termios mode_now() const {  // a pty's master reports its slave's mode
        termios now{};
        ::tcgetattr(master_, &now);
        return now;
    }
    void type(const std::string& keys) { REQUIRE(::write(master_, keys.data(), keys.size()) == ssize_t(keys.size())); }
    void resize(winsize size) { ::ioctl(master_, TIOCSWINSZ, &size); }  // the kernel sends jailctl SIGWINCH

    // Reads what jailctl writes until `text` appears after `from` (true), EOF or the timeout.
    bool read_until(const std::string& text, std::size_t from = 0, std::chrono::milliseconds timeout = 15s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (screen.find(text, from) == std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline || read_some(100) == Read::eof) return false;
        }
        return true;
    }
    // Waits for jailctl's exit, reading the rest of its output; its exit code (-1: killed or timed out).
    int wait() {
        int status = 0;
        const bool ended = wait_until(
            [&] {
                read_some(50);
                return ::waitpid(pid_, &status, WNOHANG) == pid_;
            },
            20s);
        if (!ended) return -1;
        pid_ = -1;
        while (read_some(50) == Read::data) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    std::string screen;  // everything jailctl wrote to its terminal

private:
    enum class Read { data, nothing, eof };
    // One read of the master: data, nothing for `ms`, or EOF (every slave closed: EIO).
    Read read_some(int ms) {
        pollfd fd{master_, POLLIN, 0};
        if (::poll(&fd, 1, ms) <= 0) return Read::nothing;
        char buffer[4096];
        const ssize_t n = ::read(master_, buffer, sizeof buffer);
        if (n <= 0) return Read::eof;
        screen.append(buffer, static_cast<std::size_t>(n));
        return Read::data;
    }

    int master_ = -1;
    pid_t pid_ = -1;
    termios before_{};
};

}  // namespace

TEST_CASE("jailctl sessions exec: output and exit code, stdin, env and cwd", "[root][jailctl][live]") {
    Daemon daemon;
    const std::string id = create_live(daemon);
    CHECK_THAT(jailctl(daemon.socket(), {"sessions", "info", id}).out, Catch::Contains("live"));

    Outcome o = jailctl(daemon.socket(), {"sessions", "exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(o.out == "out\n");
    CHECK(o.err == "err\n");
    CHECK(o.exit_code == 3);

    o = jailctl(daemon.socket(), {"sessions", "exec", id, "--", "echo", "hi"});
    CHECK(o.out == "hi\n");
    CHECK(o.exit_code == 0);

    // Without -t jailctl's stdin is the process's, and its EOF closes it.
    o = jailctl(daemon.socket(), {"sessions", "exec", id, "--", "wc", "-c"}, std::string(200'000, 'x'));
    CHECK(o.out == "200000\n");
    CHECK(o.exit_code == 0);

    o = jailctl(daemon.socket(),
                {"sessions", "exec", id, "--env", "K=V", "--cwd", "/tmp", "--", "sh", "-c", "echo $K; pwd"});
    CHECK(o.out == "V\n/tmp\n");

    // A command the sandbox cannot execute: 127 and why, as run and a shell say it.
    o = jailctl(daemon.socket(), {"sessions", "exec", id, "--", "no-such-command"});
    CHECK(o.exit_code == 127);
    CHECK_THAT(o.err, Catch::Contains("cannot execute") && Catch::Contains("no-such-command"));

    // --timeout-ms: killed at its wall-clock limit, and jailctl says so.
    o = jailctl(daemon.socket(), {"sessions", "exec", id, "--timeout-ms", "300", "--", "sleep", "30"});
    CHECK(o.exit_code == 128 + SIGKILL);
    CHECK_THAT(o.err, Catch::Contains("time limit"));

    // A signal ends it with 128+N, as run reports it.
    o = jailctl(daemon.socket(), {"sessions", "exec", id, "--", "sh", "-c", "kill -USR1 $$"});
    CHECK(o.exit_code == 128 + SIGUSR1);

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl sessions exec -d then ps then attach with the earlier output then kill", "[root][jailctl][live]") {
    Daemon daemon;
    const std::string id = create_live(daemon);
    Outcome started =
        jailctl(daemon.socket(), {"sessions", "exec", "-d", id, "--", "sh", "-c", "echo early; exec sleep 1000"});
    REQUIRE(started.exit_code == 0);
    const std::string pid = started.out.substr(0, started.out.find('\n'));
    REQUIRE_FALSE(pid.empty());

    const Outcome ps = jailctl(daemon.socket(), {"sessions", "ps", id});
    CHECK(ps.exit_code == 0);
    CHECK_THAT(ps.out, Catch::StartsWith("PID"));
    CHECK_THAT(ps_line(daemon, id, pid), Catch::Contains("running") && Catch::Contains("sh -c 'echo early"));

    // Attached while it runs: the output it wrote before, then its end when it is killed.
    auto attached = std::async(std::launch::async, [&] {
        return jailctl(daemon.socket(), {"sessions", "attach", id, pid});
    });
    std::this_thread::sleep_for(500ms);
    CHECK(attached.wait_for(0s) == std::future_status::timeout);  // still attached: the process runs
    const Outcome killed = jailctl(daemon.socket(), {"sessions", "kill", id, pid});
    CHECK(killed.exit_code == 0);
    CHECK(killed.err.empty());
    const Outcome a = attached.get();
    CHECK(a.out == "early\n");
    CHECK(a.exit_code == 128 + SIGTERM);
    CHECK(wait_status(daemon, id, pid, "killed SIGTERM"));

    // -s takes a name with or without SIG, or a number; anything else is a usage error.
    for (const std::string signal : {"KILL", "sigkill", "9"}) {
        started = jailctl(daemon.socket(), {"sessions", "exec", "-d", id, "--", "sleep", "1000"});
        const std::string other = started.out.substr(0, started.out.find('\n'));
        CHECK(jailctl(daemon.socket(), {"sessions", "kill", id, other, "-s", signal}).exit_code == 0);
        CHECK(wait_status(daemon, id, other, "killed SIGKILL"));
    }
    const Outcome bad = jailctl(daemon.socket(), {"sessions", "kill", id, pid, "-s", "SIGNOPE"});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::Contains("SIGNOPE"));

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl sessions attach to a process that ended shows its output and exits with its code",
          "[root][jailctl][live]") {
    Daemon daemon;
    const std::string id = create_live(daemon);
    const Outcome started =
        jailctl(daemon.socket(), {"sessions", "exec", "-d", id, "--", "sh", "-c", "echo done; echo oops >&2; exit 7"});
    const std::string pid = started.out.substr(0, started.out.find('\n'));
    REQUIRE(wait_status(daemon, id, pid, "exited 7"));

    Outcome o = jailctl(daemon.socket(), {"sessions", "attach", id, pid});
    CHECK(o.out == "done\n");
    CHECK(o.err == "oops\n");
    CHECK(o.exit_code == 7);
    // --live: nothing of what it wrote before, only its end.
    o = jailctl(daemon.socket(), {"sessions", "attach", "--live", id, pid});
    CHECK(o.out.empty());
    CHECK(o.exit_code == 7);

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl sessions exec: Ctrl-C goes to the process, on attach it detaches", "[root][jailctl][live]") {
    Daemon daemon;
    const std::string id = create_live(daemon);
    const std::string script = "trap 'echo got INT; exit 9' INT; echo ready; while :; do sleep 0.1; done";
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    Launch spec{.argv = {bin("jailctl"), "sessions", "exec", id, "--no-stdin", "--", "sh", "-c", script},
                .env = {"JAILD_SOCKET=" + daemon.socket()}};
    spec.stdout_fd = out[1];
    pid_t pid = launch(spec);
    ::close(out[1]);
    std::string seen;
    char buffer[256];
    while (seen.find("ready") == std::string::npos) {
        const ssize_t n = ::read(out[0], buffer, sizeof buffer);
        if (n <= 0) break;
        seen.append(buffer, static_cast<std::size_t>(n));
    }
    ::kill(pid, SIGINT);  // what Ctrl-C in jailctl's terminal sends it
    for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) seen.append(buffer, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(seen == "ready\ngot INT\n");
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 9);

    // attach: SIGINT ends jailctl only, the process keeps running.
    const Outcome started = jailctl(daemon.socket(), {"sessions", "exec", "-d", id, "--", "sleep", "1000"});
    const std::string sleeper = started.out.substr(0, started.out.find('\n'));
    int err[2];
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    Launch attach{.argv = {bin("jailctl"), "sessions", "attach", id, sleeper},
                  .env = {"JAILD_SOCKET=" + daemon.socket()}};
    attach.stderr_fd = err[1];
    pid = launch(attach);
    ::close(err[1]);
    std::this_thread::sleep_for(500ms);
    ::kill(pid, SIGINT);
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 128 + SIGINT);
    std::string said;
    for (ssize_t n; (n = ::read(err[0], buffer, sizeof buffer)) > 0;) said.append(buffer, static_cast<std::size_t>(n));
    ::close(err[0]);
    CHECK_THAT(said, Catch::Contains("detached") && Catch::Contains("keeps running"));
    CHECK_THAT(ps_line(daemon, id, sleeper), Catch::Contains("running"));

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl sessions exec -t drives a shell through jailctl's own terminal", "[root][jailctl][live]") {
    Daemon daemon;
    const std::string id = create_live(daemon);
    TerminalJailctl term(daemon.socket(), {"sessions", "exec", "-t", id, "--env", "PS1=jail$ ", "--", "sh", "-i"},
                         winsize{30, 100, 0, 0});
    INFO(term.screen);
    REQUIRE(term.read_until("jail$ "));
    // Raw while attached: the remote terminal echoes and edits, jailctl's only passes bytes.
    CHECK((term.mode_now().c_lflag & (ICANON | ECHO | ISIG)) == 0);

    std::size_t from = term.screen.size();
    term.type("echo X$((6*7))Y; stty size\r");
    CHECK(term.read_until("X42Y", from));
    CHECK(term.read_until("30 100", from));

    // A resize of jailctl's terminal reaches the process's.
    term.resize(winsize{40, 120, 0, 0});
    const bool resized = wait_until(
        [&] {
            from = term.screen.size();
            term.type("stty size\r");
            return term.read_until("40 120", from, 2s);
        },
        10s);
    INFO(term.screen);
    CHECK(resized);

    // ^C is a key for the remote terminal: it interrupts the shell's foreground command, not jailctl. (The
    // quotes keep the typed line, which the terminal echoes, apart from the command's output.)
    term.type("sleep 100\r");
    std::this_thread::sleep_for(300ms);
    from = term.screen.size();
    term.type("\x03");
    CHECK(term.read_until("jail$ ", from, 10s));
    term.type("echo af''ter\r");
    CHECK(term.read_until("after\r\n", from, 10s));

    term.type("exit 3\r");
    CHECK(term.wait() == 3);
    const termios after = term.mode_now();
    CHECK(after.c_lflag == term.mode_before().c_lflag);
    CHECK(after.c_iflag == term.mode_before().c_iflag);
    CHECK(after.c_oflag == term.mode_before().c_oflag);

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl sessions exec -t: Ctrl-P Ctrl-Q detaches and attach comes back", "[root][jailctl][live]") {
    Daemon daemon;
    const std::string id = create_live(daemon);
    std::string pid;
    {
        TerminalJailctl term(daemon.socket(), {"sessions", "exec", "-t", id, "--env", "PS1=jail$ ", "--", "sh", "-i"},
                             winsize{24, 80, 0, 0});
        REQUIRE(term.read_until("jail$ "));
        term.type("echo P''ID=$$:\r");  // its echo holds P''ID, its output PID=
        REQUIRE(term.read_until("PID="));
        const std::size_t at = term.screen.find("PID=") + 4;
        REQUIRE(term.read_until(":", at));
        pid = term.screen.substr(at, term.screen.find(':', at) - at);
        term.type("\x10\x11");
        CHECK(term.wait() == 0);
        CHECK_THAT(term.screen, Catch::Contains("detached"));
        CHECK((term.mode_now().c_lflag & ICANON) != 0);
    }
    REQUIRE(wait_status(daemon, id, pid, "running"));
    CHECK_THAT(ps_line(daemon, id, pid), Catch::Contains("yes"));

    TerminalJailctl again(daemon.socket(), {"sessions", "attach", id, pid}, winsize{24, 80, 0, 0});
    REQUIRE(again.read_until("PID=" + pid));  // the earlier output first
    const std::size_t from = again.screen.size();
    again.type("echo ba''ck\r");
    CHECK(again.read_until("back\r\n", from));
    again.type("exit 4\r");
    CHECK(again.wait() == 4);
    CHECK((again.mode_now().c_lflag & ICANON) != 0);

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl live commands: usage errors exit 2, jaild's refusals 125 with its message",
          "[root][jailctl][live]") {
    Daemon daemon;
    const std::string unknown(32, 'a');
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"sessions", "exec", unknown, "--", "true"},
                                               {"sessions", "ps", unknown},
                                               {"sessions", "attach", unknown, "2"},
                                               {"sessions", "kill", unknown, "2"}}) {
        INFO(args[1]);
        const Outcome o = jailctl(daemon.socket(), args);
        CHECK(o.exit_code == 125);
        CHECK_THAT(o.err, Catch::StartsWith("jailctl: ") && Catch::Contains("no session"));
    }

    // An ordinary session has no processes: jaild says it is not live.
    const Outcome plain = jailctl(daemon.socket(), {"sessions", "create"});
    const std::string id = plain.out.substr(0, plain.out.size() - 1);
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"sessions", "exec", id, "--", "true"}, {"sessions", "ps", id}}) {
        const Outcome o = jailctl(daemon.socket(), args);
        CHECK(o.exit_code == 125);
        CHECK_THAT(o.err, Catch::Contains("not live"));
    }

    const std::string live = create_live(daemon);
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"sessions", "exec", live},
                                               {"sessions", "exec", live, "--"},
                                               {"sessions", "exec", "-t", live},
                                               {"sessions", "attach", live},
                                               {"sessions", "kill", live, "1", "-s", "0"},
                                               {"sessions", "ps", live, "--", "x"},
                                               {"sessions", "create", "--timeout-ms", "1000"}}) {
        INFO(args[1] + " " + args.back());
        const Outcome o = jailctl(daemon.socket(), args);
        CHECK(o.exit_code == 2);
        CHECK_FALSE(o.err.empty());
    }
    // A pid the session never had.
    const Outcome o = jailctl(daemon.socket(), {"sessions", "attach", live, "99999"});
    CHECK(o.exit_code == 125);
    CHECK_THAT(o.err, Catch::Contains("99999"));

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    CHECK(jailctl(daemon.socket(), {"sessions", "rm", live}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl sessions create --live --timeout-ms and timeout set its deadline", "[root][jailctl][live]") {
    Daemon daemon;
    const Outcome created = jailctl(daemon.socket(), {"sessions", "create", "--live", "--timeout-ms", "600000"});
    REQUIRE(created.exit_code == 0);
    const std::string id = created.out.substr(0, created.out.size() - 1);
    CHECK_THAT(jailctl(daemon.socket(), {"sessions", "info", id}).out,
               Catch::Contains("live") && Catch::Contains("ends "));

    Outcome o = jailctl(daemon.socket(), {"sessions", "timeout", id, "0"});
    CHECK(o.exit_code == 0);
    CHECK_THAT(o.out, Catch::Contains(id) && !Catch::Contains("ends "));
    // A short deadline ends the session whatever its use.
    CHECK(jailctl(daemon.socket(), {"sessions", "timeout", id, "500"}).exit_code == 0);
    CHECK(wait_until([&] { return jailctl(daemon.socket(), {"sessions", "info", id}).exit_code == 125; }, 15s));
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl sessions context and cell: state kept across cells, errors on stderr", "[root][jailctl][live]") {
    Daemon daemon;
    const std::string id = create_live(daemon);
    const Outcome context = jailctl(daemon.socket(), {"sessions", "context", id});
    REQUIRE(context.exit_code == 0);
    const std::string ctx = context.out.substr(0, context.out.size() - 1);

    Outcome o = jailctl(daemon.socket(), {"sessions", "cell", id, ctx, "x = 20\nprint('set')"});
    CHECK(o.out == "set\n");
    CHECK(o.exit_code == 0);
    o = jailctl(daemon.socket(), {"sessions", "cell", id, ctx, "x * 2 + 2"});
    CHECK(o.out == "42\n");
    CHECK(o.exit_code == 0);
    o = jailctl(daemon.socket(), {"sessions", "cell", id, ctx, "1 / 0"});
    CHECK(o.exit_code == 1);
    CHECK_THAT(o.err, Catch::Contains("ZeroDivisionError"));
    o = jailctl(daemon.socket(), {"sessions", "cell", id, ctx, "-"}, "print(x)\n");
    CHECK(o.out == "20\n");
    // A result with no text form: which forms it has and their sizes (the API returns them).
    o = jailctl(daemon.socket(), {"sessions", "cell", id, ctx, "import matplotlib.pyplot as plt\nplt.plot([1, 2]);"});
    CHECK(o.exit_code == 0);
    CHECK_THAT(o.out, Catch::Contains("[png ") && Catch::Contains(" bytes]"));

    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir());
}
