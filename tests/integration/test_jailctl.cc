// jailctl as a user runs it: a real process talking to a real jaild, with its stdin, stdout, stderr and exit
// status checked like a shell script would see them.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/node_id.h"
#include "tests/support/harness.h"
#include "tests/support/jailctl.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

struct Outcome {
    int exit_code = -1;  // 128 + N when jailctl itself died of signal N
    std::string out, err;
};

// Runs build/bin/jailctl ARGS with JAILD_SOCKET=socket, feeding `input` on its stdin (then EOF); as the user
// `uid` (and its group) when not root, from `path` (a copy that user can execute).
Outcome jailctl(const std::string& socket, const std::vector<std::string>& args, const std::string& input = "",
                uid_t uid = 0, const std::string& path = bin("jailctl")) {
    const Jailctl ran =
        run_jailctl({.args = args, .socket = socket, .input = input, .uid = uid, .program = path, .timeout = 30s});
    if (ran.timed_out) FAIL_CHECK("jailctl did not finish in time");
    return {ran.signal ? 128 + ran.signal : ran.exit_code, ran.out, ran.err};
}

}  // namespace

TEST_CASE("jailctl run streams both outputs and passes the exit code", "[root][jailctl]") {
    Daemon daemon;
    const Outcome o = jailctl(daemon.socket(), {"run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(o.out == "out\n");
    CHECK(o.err == "err\n");
    CHECK(o.exit_code == 3);

    const Outcome ok = jailctl(daemon.socket(), {"run", "--", "true"});
    CHECK(ok.exit_code == 0);
    CHECK(ok.err.empty());
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl exits 128+N for signal N and names the limit that stopped a run", "[root][jailctl]") {
    Daemon daemon;
    Outcome o = jailctl(daemon.socket(), {"run", "--", "sh", "-c", "kill -USR1 $$"});
    CHECK(o.exit_code == 128 + SIGUSR1);

    o = jailctl(daemon.socket(), {"run", "--wall", "500", "--", "sleep", "10"});
    CHECK(o.exit_code != 0);
    CHECK_THAT(o.err, Catch::Contains("time limit"));

    o = jailctl(daemon.socket(), {"run", "--mem", "65536", "--", "python3", "-c", "bytearray(300 << 20)"});
    CHECK(o.exit_code != 0);
    CHECK_THAT(o.err, Catch::Contains("memory limit"));

    o = jailctl(daemon.socket(), {"run", "--output", "1000", "--", "yes"});
    CHECK(o.exit_code != 0);
    CHECK(o.out.size() == 1000);
    CHECK_THAT(o.err, Catch::Contains("output limit"));
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl forwards its stdin to the program", "[root][jailctl]") {
    Daemon daemon;
    Outcome o = jailctl(daemon.socket(), {"run", "--", "cat"}, "hi\n");
    CHECK(o.out == "hi\n");
    CHECK(o.exit_code == 0);

    // More than one read's worth, so it crosses as several StdinChunk messages.
    o = jailctl(daemon.socket(), {"run", "--", "wc", "-c"}, std::string(300'000, 'x'));
    CHECK(o.out == "300000\n");
    CHECK(o.exit_code == 0);

    o = jailctl(daemon.socket(), {"run", "--no-stdin", "--", "wc", "-c"}, "ignored\n");
    CHECK(o.out == "0\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl check, repeated --env, and an unreachable jaild", "[root][jailctl]") {
    Daemon daemon;
    Outcome o = jailctl(daemon.socket(), {"check"});
    CHECK(o.exit_code == 0);
    CHECK_THAT(o.out, Catch::Contains("jaild can run sandboxes"));

    o = jailctl(daemon.socket(), {"run", "--env", "A=1", "--env", "B=2", "--", "sh", "-c", "echo $A$B"});
    CHECK(o.out == "12\n");
    CHECK(o.err.empty());
    CHECK(o.exit_code == 0);
    // Without "--" the command must not be taken for more --env values.
    o = jailctl(daemon.socket(), {"run", "--env", "A=1", "sh", "-c", "echo $A"});
    CHECK(o.out == "1\n");
    CHECK(o.exit_code == 0);

    o = jailctl(daemon.run_dir() + "/no-such.sock", {"run", "--", "true"});
    CHECK(o.exit_code == 125);
    CHECK_THAT(o.err, Catch::Contains("cannot connect") && Catch::Contains("no-such.sock"));
    CHECK(o.out.empty());
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jailctl languages and execute: hello world in every language", "[root][jailctl][languages]") {
    Daemon daemon;
    const Outcome listing = jailctl(daemon.socket(), {"languages"});
    CHECK(listing.exit_code == 0);
    TempDir dir;
    for (const auto& [language, code] : kHelloWorld) {
        INFO(language);
        CHECK_THAT(listing.out, Catch::Contains(language));
        const Outcome inline_code = jailctl(daemon.socket(), {"execute", "-l", language, "--code", code});
        CHECK(inline_code.out == "hello\n");
        CHECK(inline_code.exit_code == 0);
        // From a file, and from jailctl's stdin with "-".
        const std::string file = dir.path() + "/code-" + language;
        std::ofstream(file) << code;
        CHECK(jailctl(daemon.socket(), {"execute", "-l", language, file}).out == "hello\n");
        CHECK(jailctl(daemon.socket(), {"execute", "-l", language, "-"}, code).out == "hello\n");
    }
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("jailctl execute: args, stdin, exit codes, compile errors and main()", "[root][jailctl][languages]") {
    Daemon daemon;
    Outcome o = jailctl(daemon.socket(),
                        {"execute", "-l", "python", "--code",
                         "import sys; print(sys.argv[1:], sys.stdin.read().strip()); sys.exit(4)", "--", "a", "b"},
                        "from stdin\n");
    CHECK(o.out == "['a', 'b'] from stdin\n");
    CHECK(o.exit_code == 4);

    o = jailctl(daemon.socket(), {"execute", "-l", "c", "--code", "int main() { return nope; }"});
    CHECK(o.exit_code == 1);
    CHECK_THAT(o.err, Catch::Contains("nope") && Catch::Contains("compilation failed"));
    CHECK(o.out.empty());

    o = jailctl(daemon.socket(), {"execute", "-l", "python", "--main", "--code", "def main():\n    return [1, 'x']\n"});
    CHECK(o.out == "[1, \"x\"]\n");
    CHECK(o.exit_code == 0);

    o = jailctl(daemon.socket(),
                {"execute", "-l", "python", "--result", "--data", "{\"x\": 1, \"y\": 2}", "--code", "result = x + y"});
    CHECK(o.out == "3\n");

    o = jailctl(daemon.socket(),
                {"execute", "-l", "python", "--main", "--code", "def main():\n    raise KeyError('k')\n"});
    CHECK(o.exit_code == 1);
    CHECK_THAT(o.err, Catch::Contains("Traceback") && Catch::Contains("KeyError: 'k'"));

    o = jailctl(daemon.socket(), {"execute", "-l", "python", "--main", "--code", "x = 1"});
    CHECK(o.exit_code == 125);
    CHECK_THAT(o.err, Catch::Contains("Script must contain a 'main()' function"));

    o = jailctl(daemon.socket(), {"execute", "-l", "cobol", "--code", "x"});
    CHECK(o.exit_code == 125);
    CHECK_THAT(o.err, Catch::Contains("unknown language") && Catch::Contains("python"));
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("jailctl sessions: create, run, put, get, files, info, list, rm", "[root][jailctl][sessions]") {
    Daemon daemon;
    Outcome created = jailctl(daemon.socket(), {"sessions", "create", "--env", "GREETING=hi"});
    REQUIRE(created.exit_code == 0);
    const std::string id = created.out.substr(0, created.out.find('\n'));
    REQUIRE(jaild::parse_session_id(id));  // 32 hex digits, '-', the node id (the host name's here)

    CHECK(jailctl(daemon.socket(), {"sessions", "put", id, "in/data.txt"}, "uploaded\n").exit_code == 0);
    Outcome ran = jailctl(daemon.socket(),
                          {"sessions", "run", id, "--", "sh", "-c", "cat in/data.txt; echo $GREETING > out.txt"});
    CHECK(ran.out == "uploaded\n");
    CHECK(ran.exit_code == 0);
    CHECK(jailctl(daemon.socket(), {"sessions", "get", id, "out.txt"}).out == "hi\n");
    CHECK_THAT(jailctl(daemon.socket(), {"sessions", "files", id}).out,
               Catch::Contains("in/data.txt") && Catch::Contains("out.txt"));
    CHECK_THAT(jailctl(daemon.socket(), {"sessions", "info", id}).out, Catch::Contains(id));
    CHECK_THAT(jailctl(daemon.socket(), {"sessions", "list"}).out, Catch::Contains(id));

    Outcome escape = jailctl(daemon.socket(), {"sessions", "get", id, "../../etc/passwd"});
    CHECK(escape.exit_code == 125);
    CHECK(escape.out.empty());
    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    Outcome gone = jailctl(daemon.socket(), {"sessions", "info", id});
    CHECK(gone.exit_code == 125);
    CHECK_THAT(gone.err, Catch::Contains("no session"));
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("jailctl: everything after -- is the program's, options after a session id count", "[root][jailctl]") {
    Daemon daemon;
    TempDir dir;
    const std::string program = dir.path() + "/prog.py";
    std::ofstream(program) << "import sys\nprint(sys.argv[1:])\n";
    Outcome o = jailctl(daemon.socket(), {"execute", "-l", "python", program, "--", "a", "b"});
    CHECK(o.out == "['a', 'b']\n");
    CHECK(o.exit_code == 0);
    o = jailctl(daemon.socket(), {"execute", "-l", "python", program, "--", "--", "-x"});
    CHECK(o.out == "['--', '-x']\n");  // only the first -- is jailctl's

    const std::string created = jailctl(daemon.socket(), {"sessions", "create"}).out;
    const std::string id = created.substr(0, created.find('\n'));
    o = jailctl(daemon.socket(),
                {"sessions", "run", id, "--env", "K=V", "--cwd", "/tmp", "--", "sh", "-c", "echo $K; pwd"});
    CHECK(o.out == "V\n/tmp\n");
    CHECK(o.exit_code == 0);
    CHECK(jailctl(daemon.socket(), {"sessions", "rm", id}).exit_code == 0);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("jailctl: usage errors exit 2, jaild's refusals 125 with jaild's message", "[root][jailctl]") {
    Daemon daemon("", "socket_mode = 0o666");
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"run"},
                                               {"run", "--time", "x", "--", "true"},
                                               {"nonsense"},
                                               {"execute", "-l", "python"},
                                               {"run", "--env", "NOEQUALS", "--", "true"},
                                               {"sessions", "rm"}}) {
        const Outcome o = jailctl(daemon.socket(), args);
        INFO(args.front() << " " << o.err);
        CHECK(o.exit_code == 2);
        CHECK_FALSE(o.err.empty());
    }
    Outcome o = jailctl(daemon.socket(), {"sessions", "info", std::string(32, 'a')});
    CHECK(o.exit_code == 125);
    CHECK_THAT(o.err, Catch::Contains("no session"));

    // A user jaild does not allow: jaild's own words, not "Broken pipe".
    TempDir dir;
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    const std::string copy = dir.path() + "/jailctl";
    std::filesystem::copy_file(bin("jailctl"), copy);
    REQUIRE(::chmod(copy.c_str(), 0755) == 0);
    o = jailctl(daemon.socket(), {"run", "--", "true"}, "", 65534, copy);
    CHECK(o.exit_code == 125);
    CHECK_THAT(o.err, Catch::Contains("not allowed") || Catch::Contains("permission"));
    CHECK_THAT(o.err, !Catch::Contains("Broken pipe"));
    check_nothing_left(daemon.run_dir());
}
