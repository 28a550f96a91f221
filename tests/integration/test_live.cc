// Live sessions through a real jaild's protocol (docs/sessions.md, "Live sessions"): processes that outlive
// their request, re-attached with their earlier output; stdin and EOF; signals; terminals; interpreter
// contexts that keep their state; the files shared with the file API; max_live; deadlines; restarts.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <optional>
#include <thread>

#include "tests/support/harness.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

std::string live_toml(const std::string& state, const std::string& extra = "") {
    return "[sessions]\nstate_dir = \"" + state + "\"\n" + extra;
}

v1::ServerMessage ask(const std::string& socket, v1::ClientMessage request, const std::string& principal = "") {
    request.set_principal(principal);
    Connection connection(socket);
    connection.send(request);
    v1::ServerMessage reply;
    REQUIRE(connection.receive(reply, 30s));
    return reply;
}

v1::ServerMessage create_live(const std::string& socket, std::uint64_t timeout_ms = 0,
                              const std::string& principal = "") {
    v1::ClientMessage request;
    request.mutable_session_create()->set_live(true);
    request.mutable_session_create()->set_timeout_ms(timeout_ms);
    return ask(socket, request, principal);
}

std::string live_session(const std::string& socket) {
    const v1::ServerMessage reply = create_live(socket);
    INFO("error: " << reply.error().message());
    REQUIRE(reply.has_session());
    CHECK(reply.session().live());
    return reply.session().session_id();
}

v1::ServerMessage start(const std::string& socket, const std::string& id, std::vector<std::string> argv,
                        std::optional<std::pair<int, int>> pty = std::nullopt, std::uint64_t timeout_ms = 0) {
    v1::ClientMessage request;
    auto& start = *request.mutable_process_start();
    start.set_session_id(id);
    for (auto& arg : argv) start.add_argv(arg);
    if (pty) {
        start.mutable_pty()->set_rows(static_cast<std::uint32_t>(pty->first));
        start.mutable_pty()->set_cols(static_cast<std::uint32_t>(pty->second));
    }
    start.set_timeout_ms(timeout_ms);
    return ask(socket, request);
}

std::uint32_t start_pid(const std::string& socket, const std::string& id, std::vector<std::string> argv,
                        std::optional<std::pair<int, int>> pty = std::nullopt) {
    const v1::ServerMessage reply = start(socket, id, std::move(argv), pty);
    INFO("error: " << reply.error().message());
    REQUIRE(reply.has_process());
    CHECK(reply.process().pid() > 1);
    return reply.process().pid();
}

struct Attached {
    std::string out, err;
    std::uint64_t dropped = 0;
    std::optional<v1::Exit> exit;
};

// Reads an attach stream until its Exit, or until `until` appears in stdout (the connection stays open).
Attached read_attach(Connection& connection, const std::string& until = {}, std::chrono::seconds patience = 30s) {
    Attached seen;
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        v1::ServerMessage message;
        if (!connection.receive(message, 30s)) break;
        if (message.has_output()) {
            (message.output().stream() == v1::STREAM_STDOUT ? seen.out : seen.err) += message.output().data();
            seen.dropped += message.output().dropped();
            if (!until.empty() && seen.out.find(until) != std::string::npos) return seen;
        } else if (message.has_exit()) {
            seen.exit = message.exit();
            return seen;
        } else {
            FAIL("unexpected answer kind " << message.kind_case() << ": " << message.error().message());
        }
    }
    return seen;
}

Attached attach(const std::string& socket, const std::string& id, std::uint32_t pid, bool live_only = false) {
    Connection connection(socket);
    v1::ClientMessage request;
    request.mutable_process_attach()->set_session_id(id);
    request.mutable_process_attach()->set_pid(pid);
    request.mutable_process_attach()->set_live_only(live_only);
    connection.send(request);
    return read_attach(connection);
}

v1::ClientMessage on_process(const std::string& id, std::uint32_t pid, v1::ClientMessage message) {
    if (message.has_process_input()) {
        message.mutable_process_input()->set_session_id(id);
        message.mutable_process_input()->set_pid(pid);
    } else if (message.has_process_signal()) {
        message.mutable_process_signal()->set_session_id(id);
        message.mutable_process_signal()->set_pid(pid);
    }
    return message;
}

v1::ServerMessage input(const std::string& socket, const std::string& id, std::uint32_t pid, const std::string& data,
                        bool eof) {
    v1::ClientMessage request;
    request.mutable_process_input()->set_data(data);
    request.mutable_process_input()->set_eof(eof);
    return ask(socket, on_process(id, pid, request));
}

v1::ServerMessage signal(const std::string& socket, const std::string& id, std::uint32_t pid, int number) {
    v1::ClientMessage request;
    request.mutable_process_signal()->set_signal(number);
    return ask(socket, on_process(id, pid, request));
}

struct Cell {
    std::string out, err;
    std::vector<v1::CellResult> results;
    std::optional<v1::CellError> error;
    bool ended = false;
};

Cell run_cell(const std::string& socket, const std::string& id, const std::string& context, const std::string& code) {
    Connection connection(socket);
    v1::ClientMessage request;
    request.mutable_context_run()->set_session_id(id);
    request.mutable_context_run()->set_context_id(context);
    request.mutable_context_run()->set_code(code);
    connection.send(request);
    Cell cell;
    v1::ServerMessage message;
    while (!cell.ended && connection.receive(message, 90s)) {
        if (message.has_output())
            (message.output().stream() == v1::STREAM_STDOUT ? cell.out : cell.err) += message.output().data();
        if (message.has_cell_result()) cell.results.push_back(message.cell_result());
        if (message.has_cell_error()) cell.error = message.cell_error();
        if (message.has_cell_end()) cell.ended = true;
        if (message.has_error()) FAIL("refused: " << message.error().message());
    }
    return cell;
}

std::string new_context(const std::string& socket, const std::string& id) {
    v1::ClientMessage request;
    request.mutable_context_create()->set_session_id(id);
    request.mutable_context_create()->set_language("python");
    const v1::ServerMessage reply = ask(socket, request);
    INFO("error: " << reply.error().message());
    REQUIRE(reply.has_context());
    return reply.context().context_id();
}

std::string main_text(const Cell& cell) {
    for (const auto& result : cell.results)
        if (result.is_main_result()) return result.text();
    return "<no main result>";
}

}  // namespace

TEST_CASE("live: a process outlives its request and is re-attached with its earlier output", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());

    const std::uint32_t hi = start_pid(daemon.socket(), id, {"echo", "hi"});
    Attached echo = attach(daemon.socket(), id, hi);
    CHECK(echo.out == "hi\n");
    REQUIRE(echo.exit);
    CHECK(echo.exit->status() == v1::STATUS_OK);

    // Started, left, re-attached twice: from the start, and only what comes next.
    const std::uint32_t slow =
        start_pid(daemon.socket(), id, {"sh", "-c", "echo first; echo oops >&2; read line; echo got $line; exit 3"});
    std::this_thread::sleep_for(300ms);
    CHECK(input(daemon.socket(), id, slow, "abc\n", false).has_done());
    Attached again = attach(daemon.socket(), id, slow);
    CHECK(again.out == "first\ngot abc\n");
    CHECK(again.err == "oops\n");
    REQUIRE(again.exit);
    CHECK(again.exit->exit_code() == 3);
    CHECK(again.exit->status() == v1::STATUS_RUNTIME_ERROR);
    Attached ended_live = attach(daemon.socket(), id, slow, true);
    CHECK(ended_live.out.empty());
    REQUIRE(ended_live.exit);

    v1::ClientMessage list;
    list.mutable_process_list()->set_session_id(id);
    const v1::ServerMessage listed = ask(daemon.socket(), list);
    REQUIRE(listed.has_processes());
    CHECK(listed.processes().processes_size() == 2);
    for (const auto& p : listed.processes().processes()) CHECK_FALSE(p.running());
}

TEST_CASE("live: stdin with EOF, signals, two processes at once, timeouts", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());

    const std::uint32_t cat = start_pid(daemon.socket(), id, {"cat"});
    const std::uint32_t sleeper = start_pid(daemon.socket(), id, {"sleep", "60"});
    CHECK(input(daemon.socket(), id, cat, "to cat\n", true).has_done());
    Attached catted = attach(daemon.socket(), id, cat);
    CHECK(catted.out == "to cat\n");
    REQUIRE(catted.exit);
    CHECK(catted.exit->exit_code() == 0);

    CHECK(signal(daemon.socket(), id, sleeper, SIGTERM).has_done());
    Attached slept = attach(daemon.socket(), id, sleeper);
    REQUIRE(slept.exit);
    CHECK(slept.exit->signal() == SIGTERM);
    CHECK(slept.exit->signal_name() == "SIGTERM");
    CHECK(slept.exit->exit_code() == 128 + SIGTERM);

    const v1::ServerMessage timed = start(daemon.socket(), id, {"sleep", "60"}, std::nullopt, 300);
    REQUIRE(timed.has_process());
    Attached killed = attach(daemon.socket(), id, timed.process().pid());
    REQUIRE(killed.exit);
    CHECK(killed.exit->status() == v1::STATUS_TIMEOUT);
    CHECK(killed.exit->signal() == SIGKILL);

    const v1::ServerMessage missing = start(daemon.socket(), id, {"no-such-program"});
    REQUIRE(missing.has_error());
    CHECK(missing.error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK(missing.error().message().find("no-such-program") != std::string::npos);
    const v1::ServerMessage unknown = signal(daemon.socket(), id, 99999, SIGTERM);
    REQUIRE(unknown.has_error());
    CHECK(unknown.error().code() == v1::ERROR_CODE_NOT_FOUND);
}

TEST_CASE("live: a terminal, driven while attached, with resize", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());
    const std::uint32_t shell = start_pid(daemon.socket(), id, {"sh", "-i"}, std::make_pair(30, 100));

    Connection connection(daemon.socket());
    v1::ClientMessage request;
    request.mutable_process_attach()->set_session_id(id);
    request.mutable_process_attach()->set_pid(shell);
    connection.send(request);
    v1::ClientMessage type;
    type.mutable_stdin()->set_data("stty size; tty\n");
    connection.send(type);
    Attached first = read_attach(connection, "/dev/pts/");
    CHECK(first.out.find("30 100") != std::string::npos);

    v1::ClientMessage resize;
    resize.mutable_process_resize()->mutable_size()->set_rows(40);
    resize.mutable_process_resize()->mutable_size()->set_cols(120);
    connection.send(resize);
    std::this_thread::sleep_for(200ms);
    type.mutable_stdin()->set_data("stty size\n");
    connection.send(type);
    Attached second = read_attach(connection, "40 120");
    CHECK(second.out.find("40 120") != std::string::npos);
    type.mutable_stdin()->set_data("exit 7\n");
    connection.send(type);
    Attached last = read_attach(connection);
    REQUIRE(last.exit);
    CHECK(last.exit->exit_code() == 7);
}

TEST_CASE("live: an interpreter context keeps its state across cells and errors", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());
    const std::string context = new_context(daemon.socket(), id);

    Cell assign = run_cell(daemon.socket(), id, context, "import os\nx = 5\nprint('hello')");
    CHECK(assign.ended);
    CHECK(assign.out == "hello\n");
    CHECK_FALSE(assign.error);
    CHECK(main_text(run_cell(daemon.socket(), id, context, "x * 2")) == "10");
    // Nothing is ever typed into a cell: reading stdin gets its end at once instead of waiting forever.
    CHECK(main_text(run_cell(daemon.socket(), id, context, "import sys\nsys.stdin.read()")) == "''");
    Cell failed = run_cell(daemon.socket(), id, context, "1 / 0");
    REQUIRE(failed.error);
    CHECK(failed.error->name() == "ZeroDivisionError");
    CHECK(failed.error->traceback().find("ZeroDivisionError") != std::string::npos);
    CHECK(main_text(run_cell(daemon.socket(), id, context, "os.chdir('/tmp'); x + 1")) == "6");
    CHECK(main_text(run_cell(daemon.socket(), id, context, "os.getcwd()")) == "'/tmp'");

    Cell figure = run_cell(daemon.socket(), id, context,
                           "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()");
    bool png = false;
    for (const auto& result : figure.results) png = png || result.png().rfind("\x89PNG\r\n\x1a\n", 0) == 0;
    CHECK(png);

    // Interrupted while it sleeps, then the state is still there; restarted, it is gone.
    std::thread interrupter([&] {
        std::this_thread::sleep_for(1500ms);
        v1::ClientMessage interrupt;
        interrupt.mutable_context_interrupt()->set_session_id(id);
        interrupt.mutable_context_interrupt()->set_context_id(context);
        CHECK(ask(daemon.socket(), interrupt).has_done());
    });
    Cell slept = run_cell(daemon.socket(), id, context, "import time\ntime.sleep(60)");
    interrupter.join();
    REQUIRE(slept.error);
    CHECK(slept.error->name() == "KeyboardInterrupt");
    CHECK(main_text(run_cell(daemon.socket(), id, context, "x")) == "5");
    v1::ClientMessage restart;
    restart.mutable_context_restart()->set_session_id(id);
    restart.mutable_context_restart()->set_context_id(context);
    CHECK(ask(daemon.socket(), restart).has_done());
    Cell gone = run_cell(daemon.socket(), id, context, "x");
    REQUIRE(gone.error);
    CHECK(gone.error->name() == "NameError");
}

TEST_CASE("live: files are shared between processes and the file API, and the quota holds", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "quota_kb = 1024\n"));
    const std::string id = live_session(daemon.socket());
    v1::ClientMessage put;
    put.mutable_file_put()->set_session_id(id);
    put.mutable_file_put()->set_path("in.txt");
    put.mutable_file_put()->set_content("uploaded\n");
    CHECK(ask(daemon.socket(), put).has_done());
    const std::uint32_t pid = start_pid(
        daemon.socket(), id, {"sh", "-c", "cat in.txt; echo made > out.txt; head -c 2000000 /dev/zero > big"});
    Attached ran = attach(daemon.socket(), id, pid);
    CHECK(ran.out == "uploaded\n");
    CHECK(ran.err.find("No space left") != std::string::npos);
    v1::ClientMessage get;
    get.mutable_file_get()->set_session_id(id);
    get.mutable_file_get()->set_path("out.txt");
    CHECK(ask(daemon.socket(), get).file().content() == "made\n");
}

TEST_CASE("live: stat, make a directory, move and list below a path on a live session's files", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "quota_kb = 1024\n"));
    const std::string id = live_session(daemon.socket());
    v1::ClientMessage make_dir;
    make_dir.mutable_file_make_dir()->set_session_id(id);
    make_dir.mutable_file_make_dir()->set_path("a/b");
    const v1::ServerMessage made = ask(daemon.socket(), make_dir);
    INFO("error: " << made.error().message());
    REQUIRE(made.files().files_size() == 1);
    CHECK(made.files().files(0).type() == "directory");
    CHECK(ask(daemon.socket(), make_dir).error().code() == v1::ERROR_CODE_ALREADY_EXISTS);

    // A program in the sandbox sees the directory, owns it (the sandbox's uid made it) and writes into it; a
    // symlink it plants out of the workspace is never followed by the file requests.
    const std::uint32_t pid = start_pid(
        daemon.socket(), id, {"sh", "-c", "test -O a/b && echo owned; echo hi > a/b/f.txt; ln -s /etc a/etc"});
    CHECK(attach(daemon.socket(), id, pid).out == "owned\n");
    v1::ClientMessage move;
    move.mutable_file_move()->set_session_id(id);
    move.mutable_file_move()->set_source("a/b/f.txt");
    move.mutable_file_move()->set_destination("c/g.txt");
    const v1::ServerMessage moved = ask(daemon.socket(), move);
    INFO("error: " << moved.error().message());
    REQUIRE(moved.files().files_size() == 1);
    CHECK(moved.files().files(0).path() == "c/g.txt");
    CHECK(moved.files().files(0).size() == 3);
    move.mutable_file_move()->set_source("a/etc/passwd");
    CHECK(ask(daemon.socket(), move).error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    make_dir.mutable_file_make_dir()->set_path("a/etc/made");
    CHECK(ask(daemon.socket(), make_dir).error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK_FALSE(std::filesystem::exists("/etc/made"));

    v1::ClientMessage stat;
    stat.mutable_file_stat()->set_session_id(id);
    stat.mutable_file_stat()->set_path("a/etc");
    const v1::ServerMessage link = ask(daemon.socket(), stat);
    REQUIRE(link.files().files_size() == 1);
    CHECK(link.files().files(0).type() == "symlink");
    CHECK(link.files().files(0).symlink_target() == "/etc");
    v1::ClientMessage list;
    list.mutable_file_list()->set_session_id(id);
    list.mutable_file_list()->set_path("a");
    list.mutable_file_list()->set_depth(1);
    const v1::ServerMessage listed = ask(daemon.socket(), list);
    std::vector<std::string> paths;
    for (const auto& entry : listed.files().files()) paths.push_back(entry.path());
    CHECK(paths == std::vector<std::string>{"a/b", "a/etc"});
}

TEST_CASE("live: refusals: not live, max_live, unknown ids", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "max_live = 1\n"));
    v1::ClientMessage plain;
    plain.mutable_session_create();
    const std::string ordinary = ask(daemon.socket(), plain).session().session_id();
    const v1::ServerMessage not_live = start(daemon.socket(), ordinary, {"true"});
    REQUIRE(not_live.has_error());
    CHECK(not_live.error().code() == v1::ERROR_CODE_FAILED_PRECONDITION);

    const std::string id = live_session(daemon.socket());
    const v1::ServerMessage second = create_live(daemon.socket());
    REQUIRE(second.has_error());
    CHECK(second.error().code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED);
    CHECK(second.error().message().find("1 live") != std::string::npos);

    v1::ClientMessage run = shell("true");
    run.mutable_run()->set_session_id(id);
    const v1::ServerMessage refused = ask(daemon.socket(), run);
    REQUIRE(refused.has_error());
    CHECK(refused.error().code() == v1::ERROR_CODE_FAILED_PRECONDITION);

    // Another principal sees nothing of it.
    v1::ClientMessage list;
    list.mutable_process_list()->set_session_id(id);
    CHECK(ask(daemon.socket(), list, "mallory").error().code() == v1::ERROR_CODE_NOT_FOUND);
}

TEST_CASE("live: delete and the deadline end every process, double-forked ones too", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());
    start_pid(daemon.socket(), id, {"sh", "-c", "setsid sh -c 'sleep 300 & sleep 300' & sleep 300"});
    CHECK(wait_until([] { return sandbox_processes().size() >= 4; }, 5s));
    v1::ClientMessage remove;
    remove.mutable_session_delete()->set_session_id(id);
    CHECK(ask(daemon.socket(), remove).has_done());
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 10s));

    const v1::ServerMessage timed = create_live(daemon.socket(), 1500);
    REQUIRE(timed.has_session());
    CHECK(timed.session().deadline_unix_ms() > 0);
    start_pid(daemon.socket(), timed.session().session_id(), {"sh", "-c", "setsid sleep 300 & sleep 300"});
    CHECK_FALSE(sandbox_processes().empty());
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 10s));
    v1::ClientMessage get;
    get.mutable_session_get()->set_session_id(timed.session().session_id());
    CHECK(ask(daemon.socket(), get).error().code() == v1::ERROR_CODE_NOT_FOUND);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("live: after a restart of jaild nothing of the old sandbox runs and the files remain", "[live]") {
    TempDir state;
    std::string id;
    {
        Daemon first(live_toml(state.path()));
        id = live_session(first.socket());
        const std::uint32_t pid = start_pid(first.socket(), id, {"sh", "-c", "echo kept > kept.txt; sleep 300"});
        (void)pid;
        CHECK(wait_until([] { return !sandbox_processes().empty(); }, 5s));
        std::this_thread::sleep_for(300ms);
        CHECK(first.terminate() == 0);
    }
    CHECK(sandbox_processes().empty());
    Daemon second(live_toml(state.path()));
    v1::ClientMessage get;
    get.mutable_session_get()->set_session_id(id);
    const v1::ServerMessage info = ask(second.socket(), get);
    REQUIRE(info.has_session());
    CHECK(info.session().live());
    CHECK(info.session().restarted());
    CHECK(info.session().processes_running() == 0);
    const std::uint32_t pid = start_pid(second.socket(), id, {"cat", "kept.txt"});
    CHECK(attach(second.socket(), id, pid).out == "kept\n");
}

TEST_CASE("live: a cell's output and results come in the order it made them, a thread it leaves adds nothing",
          "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());
    const std::string context = new_context(daemon.socket(), id);
    Connection connection(daemon.socket());
    v1::ClientMessage request;
    request.mutable_context_run()->set_session_id(id);
    request.mutable_context_run()->set_context_id(context);
    request.mutable_context_run()->set_code("print('one')\ndisplay(2)\nprint('three')");
    connection.send(request);
    std::vector<std::string> order;
    v1::ServerMessage message;
    while (connection.receive(message, 60s) && !message.has_cell_end()) {
        if (message.has_output()) order.push_back(message.output().data());
        if (message.has_cell_result()) order.push_back("result " + message.cell_result().text());
    }
    // What the cell printed before an event comes before it; what it printed just after may overtake it
    // (two channels, docs/sessions.md), so "three" may come on either side of the result.
    const auto at = [&](const std::string& item) {
        return std::find(order.begin(), order.end(), item) - order.begin();
    };
    REQUIRE(order.size() == 3);
    CHECK(at("one\n") < at("result 2"));
    CHECK(at("three\n") < 3);

    // A thread that displays after its cell ended: nothing reads that, and the next cell shows only its own.
    Cell left = run_cell(daemon.socket(), id, context,
                         "import threading, time\n"
                         "def later():\n    time.sleep(0.3)\n    for i in range(50): display(i)\n"
                         "threading.Thread(target=later).start()");
    CHECK(left.results.empty());
    std::this_thread::sleep_for(1s);
    Cell next = run_cell(daemon.socket(), id, context, "'mine'");
    REQUIRE(next.results.size() == 1);
    CHECK(next.results[0].text() == "'mine'");
}

TEST_CASE("live: a background writer flooding its pipe does not stall the session, timeouts are bounded", "[live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "live_max_s = 3600\n"));
    const std::string id = live_session(daemon.socket());
    // The shell exits while `yes` keeps its stdout full: the agent drains a bounded amount and serves on.
    const std::uint32_t flood = start_pid(daemon.socket(), id, {"sh", "-c", "yes & exit 0"});
    std::this_thread::sleep_for(500ms);
    const auto begun = std::chrono::steady_clock::now();
    const std::uint32_t hi = start_pid(daemon.socket(), id, {"echo", "hi"});
    CHECK(attach(daemon.socket(), id, hi).out == "hi\n");
    CHECK(std::chrono::steady_clock::now() - begun < 10s);
    (void)flood;

    const v1::ServerMessage long_start = start(daemon.socket(), id, {"true"}, std::nullopt, 3'600'001);
    REQUIRE(long_start.has_error());
    CHECK(long_start.error().field() == "timeout_ms");
    v1::ClientMessage deadline;
    deadline.mutable_session_set_timeout()->set_session_id(id);
    deadline.mutable_session_set_timeout()->set_timeout_ms(UINT64_MAX);
    CHECK(ask(daemon.socket(), deadline).error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
}
