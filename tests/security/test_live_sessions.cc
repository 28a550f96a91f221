// Attacks on and from live sessions (docs/sessions.md, "Live sessions"), each tried for real through jaild's
// protocol: another principal reaching a live session; processes that try to outlive their session (setsid,
// double fork, a fork loop) past delete, idle TTL and deadline; a session's quota, memory and pids; max_live;
// what survives a jaild restart; a program forging a cell's result or another process's exit, reading the
// agent's channel or killing it; the sandbox's terminals. One case repeats the first through the gateway with
// two tenants' keys; it says SKIPPED while the gateway serves no live sessions.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/security/reaper_attack.h"
#include "tests/support/harness.h"
#include "tests/support/skip.h"
#include "tests/support/tenants.h"

namespace jaild::test {

using namespace std::chrono_literals;

namespace {

std::string live_toml(const std::string& state, const std::string& extra = "") {
    return "[sessions]\nstate_dir = \"" + state + "\"\n" + extra;
}

// One request on a new connection, its first answer.
v1::ServerMessage ask(const std::string& socket, v1::ClientMessage request, const std::string& principal = "") {
    request.set_principal(principal);
    Connection connection(socket);
    connection.send(request);
    v1::ServerMessage reply;
    REQUIRE(connection.receive(reply, 30s));
    return reply;
}

v1::ServerMessage create_live(const std::string& socket, const std::string& principal = "",
                              std::uint64_t timeout_ms = 0) {
    v1::ClientMessage request;
    request.mutable_session_create()->set_live(true);
    request.mutable_session_create()->set_timeout_ms(timeout_ms);
    return ask(socket, request, principal);
}

std::string live_session(const std::string& socket, const std::string& principal = "", std::uint64_t timeout_ms = 0) {
    const v1::ServerMessage reply = create_live(socket, principal, timeout_ms);
    INFO("error: " << reply.error().message());
    REQUIRE(reply.has_session());
    REQUIRE(reply.session().live());
    return reply.session().session_id();
}

v1::ServerMessage start(const std::string& socket, const std::string& id, const std::vector<std::string>& argv,
                        const std::string& principal = "", bool pty = false) {
    v1::ClientMessage request;
    auto& start = *request.mutable_process_start();
    start.set_session_id(id);
    for (const auto& arg : argv) start.add_argv(arg);
    if (pty) {
        start.mutable_pty()->set_rows(24);
        start.mutable_pty()->set_cols(80);
    }
    return ask(socket, request, principal);
}

std::uint32_t start_pid(const std::string& socket, const std::string& id, const std::vector<std::string>& argv,
                        const std::string& principal = "", bool pty = false) {
    const v1::ServerMessage reply = start(socket, id, argv, principal, pty);
    INFO("error: " << reply.error().message());
    REQUIRE(reply.has_process());
    return reply.process().pid();
}

struct Attached {
    std::string out, err;
    std::optional<v1::Exit> exit;
};

// The process's output from the start of its log until its Exit (or `patience`).
Attached attach(const std::string& socket, const std::string& id, std::uint32_t pid, const std::string& principal = "",
                std::chrono::seconds patience = 30s) {
    Connection connection(socket);
    v1::ClientMessage request;
    request.set_principal(principal);
    request.mutable_process_attach()->set_session_id(id);
    request.mutable_process_attach()->set_pid(pid);
    connection.send(request);
    Attached seen;
    v1::ServerMessage message;
    while (connection.receive(message, patience)) {
        if (message.has_output()) {
            (message.output().stream() == v1::STREAM_STDOUT ? seen.out : seen.err) += message.output().data();
        } else {
            if (message.has_exit()) seen.exit = message.exit();
            if (message.has_error()) seen.err += "ERROR " + message.error().message();
            break;
        }
    }
    return seen;
}

// Starts argv and returns what it printed once it ended.
Attached run_in(const std::string& socket, const std::string& id, const std::vector<std::string>& argv,
                const std::string& principal = "") {
    const std::uint32_t pid = start_pid(socket, id, argv, principal);
    Attached seen = attach(socket, id, pid, principal);
    INFO(seen.out << seen.err);
    REQUIRE(seen.exit);
    return seen;
}

v1::ProcessInfo process_info(const std::string& socket, const std::string& id, std::uint32_t pid,
                             const std::string& principal = "") {
    v1::ClientMessage list;
    list.mutable_process_list()->set_session_id(id);
    const v1::ServerMessage reply = ask(socket, list, principal);
    REQUIRE(reply.has_processes());
    for (const auto& process : reply.processes().processes())
        if (process.pid() == pid) return process;
    FAIL("no process " << pid << " in the list of session " << id);
    return {};
}

struct Cell {
    std::string out, err;
    std::vector<v1::CellResult> results;
    std::optional<v1::CellError> error;
    bool ended = false;
};

Cell run_cell(const std::string& socket, const std::string& id, const std::string& context, const std::string& code,
              const std::string& principal = "") {
    Connection connection(socket);
    v1::ClientMessage request;
    request.set_principal(principal);
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

std::string new_context(const std::string& socket, const std::string& id, const std::string& principal = "") {
    v1::ClientMessage request;
    request.mutable_context_create()->set_session_id(id);
    request.mutable_context_create()->set_language("python");
    const v1::ServerMessage reply = ask(socket, request, principal);
    INFO("error: " << reply.error().message());
    REQUIRE(reply.has_context());
    return reply.context().context_id();
}

std::string main_text(const Cell& cell) {
    for (const auto& result : cell.results)
        if (result.is_main_result()) return result.text();
    return "<no main result>";
}

v1::ServerMessage delete_session(const std::string& socket, const std::string& id, const std::string& principal = "") {
    v1::ClientMessage remove;
    remove.mutable_session_delete()->set_session_id(id);
    return ask(socket, remove, principal);
}

v1::ServerMessage get_file(const std::string& socket, const std::string& id, const std::string& path) {
    v1::ClientMessage get;
    get.mutable_file_get()->set_session_id(id);
    get.mutable_file_get()->set_path(path);
    return ask(socket, get);
}

// The real uid of a host process, or -1 once it is gone.
long uid_of(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("Uid:", 0) == 0) return std::stol(line.substr(4));
    return -1;
}

std::size_t processes_of_uid(long uid) {
    std::size_t n = 0;
    for (const pid_t pid : pool_processes()) n += uid_of(pid) == uid;
    return n;
}

// The host pid of the agent of the sandbox whose uid is `uid` (-1 when there is none).
pid_t agent_of(long uid) {
    for (const pid_t pid : pool_processes()) {
        std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
        std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
        if (uid_of(pid) == uid && text.find("jaild_agent.py") != std::string::npos) return pid;
    }
    return -1;
}

// The sandbox's uid, as a process in it reports it.
long session_uid(const std::string& socket, const std::string& id) {
    const Attached seen = run_in(socket, id, {"id", "-u"});
    return std::stol(seen.out);
}

// job-* cgroups that a jaild of this pid made (named job-<pid>-...).
std::vector<std::string> cgroups_of(pid_t jaild) {
    std::vector<std::string> found;
    const std::string prefix = "job-" + std::to_string(jaild) + "-";
    for (const std::string& name : all_job_cgroups())
        if (name.rfind(prefix, 0) == 0) found.push_back(name);
    return found;
}

// Processes that try to outlive their session: a setsid'd double fork (its grandchild adopted by the reaper, in
// a session and group of its own), and one that forks and exits in a loop, so that its pid never stays the same
// and a kill by pid or group always misses the newest one. None of them prints anything.
void start_escapers(const std::string& socket, const std::string& id) {
    const long uid = session_uid(socket, id);
    start_pid(socket, id, {"sh", "-c", "setsid sh -c 'sleep 300 & sleep 300' & sleep 300"});
    start_pid(socket, id,
              {"python3", "-c",
               "import os, time\n"
               "while True:\n"
               "    if os.fork():\n"
               "        os._exit(0)\n"
               "    os.setsid()\n"
               "    time.sleep(0.01)\n"});
    // the agent, the sh, the setsid sh, its two sleeps, the outer sleep, and the current forker
    CHECK(wait_until([&] { return processes_of_uid(uid) >= 6; }, 10s));
}

void check_session_gone(const std::string& socket, const std::string& id, long uid) {
    CHECK(wait_until([&] { return processes_of_uid(uid) == 0; }, 15s));
    CHECK(processes_of_uid(uid) == 0);
    v1::ClientMessage get;
    get.mutable_session_get()->set_session_id(id);
    CHECK(ask(socket, get).error().code() == v1::ERROR_CODE_NOT_FOUND);
}

// An agent frame (languages/support/jaild_agent.py): u32 big-endian length, u8 type, u32 big-endian id, payload.
std::string frame(unsigned char kind, std::uint32_t id, const std::string& payload) {
    std::string out;
    const auto u32 = [&](std::uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
    };
    u32(static_cast<std::uint32_t>(payload.size() + 5));
    out += static_cast<char>(kind);
    u32(id);
    return out + payload;
}

}  // namespace

TEST_CASE("live security: another principal finds nothing of a live session", "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string& socket = daemon.socket();
    const std::string id = live_session(socket, "alice");
    const std::uint32_t sleeper = start_pid(socket, id, {"sleep", "300"}, "alice", true);
    const std::string context = new_context(socket, id, "alice");
    CHECK(run_cell(socket, id, context, "x = 41", "alice").ended);
    v1::ClientMessage put;
    put.mutable_file_put()->set_session_id(id);
    put.mutable_file_put()->set_path("secret.txt");
    put.mutable_file_put()->set_content("alice's\n");
    REQUIRE(ask(socket, put, "alice").has_done());

    // Every request that names the session, its process or its context, as someone else.
    std::vector<std::pair<std::string, v1::ClientMessage>> attempts;
    const auto add = [&](const std::string& name, auto fill) {
        v1::ClientMessage m;
        fill(m);
        attempts.emplace_back(name, m);
    };
    add("ProcessList", [&](auto& m) { m.mutable_process_list()->set_session_id(id); });
    add("ProcessStart", [&](auto& m) {
        m.mutable_process_start()->set_session_id(id);
        m.mutable_process_start()->add_argv("true");
    });
    add("ProcessAttach", [&](auto& m) {
        m.mutable_process_attach()->set_session_id(id);
        m.mutable_process_attach()->set_pid(sleeper);
    });
    add("ProcessInput", [&](auto& m) {
        m.mutable_process_input()->set_session_id(id);
        m.mutable_process_input()->set_pid(sleeper);
        m.mutable_process_input()->set_data("\x03");
        m.mutable_process_input()->set_eof(true);
    });
    add("ProcessSignal", [&](auto& m) {
        m.mutable_process_signal()->set_session_id(id);
        m.mutable_process_signal()->set_pid(sleeper);
        m.mutable_process_signal()->set_signal(SIGKILL);
    });
    add("ProcessResize", [&](auto& m) {
        m.mutable_process_resize()->set_session_id(id);
        m.mutable_process_resize()->set_pid(sleeper);
        m.mutable_process_resize()->mutable_size()->set_rows(10);
        m.mutable_process_resize()->mutable_size()->set_cols(10);
    });
    add("ContextCreate", [&](auto& m) {
        m.mutable_context_create()->set_session_id(id);
        m.mutable_context_create()->set_language("python");
    });
    add("ContextList", [&](auto& m) { m.mutable_context_list()->set_session_id(id); });
    add("ContextRun", [&](auto& m) {
        m.mutable_context_run()->set_session_id(id);
        m.mutable_context_run()->set_context_id(context);
        m.mutable_context_run()->set_code("x = 0");
    });
    add("ContextInterrupt", [&](auto& m) {
        m.mutable_context_interrupt()->set_session_id(id);
        m.mutable_context_interrupt()->set_context_id(context);
    });
    add("ContextRestart", [&](auto& m) {
        m.mutable_context_restart()->set_session_id(id);
        m.mutable_context_restart()->set_context_id(context);
    });
    add("ContextDelete", [&](auto& m) {
        m.mutable_context_delete()->set_session_id(id);
        m.mutable_context_delete()->set_context_id(context);
    });
    add("SessionSetTimeout", [&](auto& m) {
        m.mutable_session_set_timeout()->set_session_id(id);
        m.mutable_session_set_timeout()->set_timeout_ms(1);
    });
    add("SessionGet", [&](auto& m) { m.mutable_session_get()->set_session_id(id); });
    add("FileList", [&](auto& m) { m.mutable_file_list()->set_session_id(id); });
    add("FileGet", [&](auto& m) {
        m.mutable_file_get()->set_session_id(id);
        m.mutable_file_get()->set_path("secret.txt");
    });
    add("FilePut", [&](auto& m) {
        m.mutable_file_put()->set_session_id(id);
        m.mutable_file_put()->set_path("secret.txt");
        m.mutable_file_put()->set_content("mallory's\n");
    });
    add("FileDelete", [&](auto& m) {
        m.mutable_file_delete()->set_session_id(id);
        m.mutable_file_delete()->set_path("secret.txt");
    });
    add("SessionDelete", [&](auto& m) { m.mutable_session_delete()->set_session_id(id); });

    // "mallory" through the same peer, and the peer itself without a principal (uid:0, not uid:0/alice).
    for (const std::string intruder : {"mallory", ""}) {
        for (const auto& [name, request] : attempts) {
            INFO(name << " as \"" << intruder << "\"");
            const v1::ServerMessage reply = ask(socket, request, intruder);
            REQUIRE(reply.has_error());
            CHECK(reply.error().code() == v1::ERROR_CODE_NOT_FOUND);
            CHECK(reply.error().message().find("alice") == std::string::npos);
        }
        v1::ClientMessage list;
        list.mutable_session_list();
        const v1::ServerMessage listed = ask(socket, list, intruder);
        REQUIRE(listed.has_sessions());
        for (const auto& session : listed.sessions().sessions()) CHECK(session.session_id() != id);
    }

    // Alice's session is as she left it: its process runs, its context keeps x, its file and deadline hold.
    CHECK(process_info(socket, id, sleeper, "alice").running());
    CHECK(main_text(run_cell(socket, id, context, "x + 1", "alice")) == "42");
    v1::ClientMessage get;
    get.mutable_file_get()->set_session_id(id);
    get.mutable_file_get()->set_path("secret.txt");
    CHECK(ask(socket, get, "alice").file().content() == "alice's\n");
    get.mutable_session_get()->set_session_id(id);
    const v1::ServerMessage info = ask(socket, get, "alice");
    REQUIRE(info.has_session());
    CHECK(info.session().deadline_unix_ms() == 0);
    CHECK(delete_session(socket, id, "alice").has_done());
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("live security: every process goes at delete and at the deadline, double-forked and fork-looping ones too",
          "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string& socket = daemon.socket();

    const std::string deleted = live_session(socket);
    const long deleted_uid = session_uid(socket, deleted);
    start_escapers(socket, deleted);
    CHECK(delete_session(socket, deleted).has_done());
    check_session_gone(socket, deleted, deleted_uid);

    const std::string timed = live_session(socket, "", 60'000);
    const long timed_uid = session_uid(socket, timed);
    start_escapers(socket, timed);
    // The deadline moved to 1.5 s from now (E2B's setTimeout), not the minute it was created with.
    v1::ClientMessage timeout;
    timeout.mutable_session_set_timeout()->set_session_id(timed);
    timeout.mutable_session_set_timeout()->set_timeout_ms(1500);
    REQUIRE(ask(socket, timeout).has_session());
    CHECK(processes_of_uid(timed_uid) >= 6);
    check_session_gone(socket, timed, timed_uid);
    check_nothing_left(daemon.run_dir(), daemon.pid());
    CHECK(cgroups_of(daemon.pid()).size() <= 3);  // at most the warm sandboxes it keeps
}

TEST_CASE("live security: every process goes when the idle TTL passes", "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "ttl_s = 2\n"));
    const std::string id = live_session(daemon.socket());
    const long uid = session_uid(daemon.socket(), id);
    start_escapers(daemon.socket(), id);
    // Running, silent processes are not use: the session is idle from the last request on.
    const auto idle_since = std::chrono::steady_clock::now();
    CHECK(wait_until([&] { return processes_of_uid(uid) == 0; }, 15s));
    CHECK(std::chrono::steady_clock::now() - idle_since >= 1s);
    check_session_gone(daemon.socket(), id, uid);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("live security: a session's quota holds for its processes and for uploads", "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "quota_kb = 1024\n"));
    const std::string id = live_session(daemon.socket());
    // /workspace and /tmp share the quota: 700 KB in each cannot both fit.
    const Attached filled = run_in(daemon.socket(), id,
                                   {"sh", "-c",
                                    "head -c 700000 /dev/zero > /workspace/a && echo A-OK; "
                                    "head -c 700000 /dev/zero > /tmp/b && echo B-OK || echo B-FULL; "
                                    "python3 -c \"open('/workspace/c', 'wb').write(b'x' * 2000000)\" 2>&1 | "
                                    "grep -o 'No space left on device' | head -1"});
    INFO(filled.out << filled.err);
    CHECK(filled.out.find("A-OK\n") != std::string::npos);
    CHECK(filled.out.find("B-FULL\n") != std::string::npos);
    CHECK(filled.out.find("B-OK") == std::string::npos);
    CHECK(filled.out.find("No space left on device") != std::string::npos);
    CHECK(filled.err.find("No space left") != std::string::npos);

    v1::ClientMessage put;
    put.mutable_file_put()->set_session_id(id);
    put.mutable_file_put()->set_path("upload.bin");
    put.mutable_file_put()->set_content(std::string(2'000'000, 'u'));
    const v1::ServerMessage refused = ask(daemon.socket(), put);
    INFO(refused.DebugString());
    REQUIRE(refused.has_error());
    CHECK(refused.error().code() == v1::ERROR_CODE_QUOTA_EXCEEDED);
    CHECK(get_file(daemon.socket(), id, "upload.bin").error().code() == v1::ERROR_CODE_NOT_FOUND);
    // What the tmpfs holds in all stays under the quota, and room freed is room again.
    const Attached used =
        run_in(daemon.socket(), id, {"sh", "-c", "du -sk /workspace /tmp | awk '{s+=$1} END {print s}'"});
    CHECK(std::stol(used.out) <= 1024);
    CHECK(run_in(daemon.socket(), id,
                 {"sh", "-c", "rm -f /workspace/* /tmp/*; head -c 900000 /dev/zero > big && echo OK"})
              .out == "OK\n");
}

TEST_CASE("live security: a process past the session's memory is killed, and the agent serves on", "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "live_memory_kb = 65536\n"));
    const std::string id = live_session(daemon.socket());
    const long uid = session_uid(daemon.socket(), id);
    const pid_t agent = agent_of(uid);
    REQUIRE(agent > 0);
    const std::uint32_t hog = start_pid(daemon.socket(), id,
                                        {"python3", "-c",
                                         "import sys\nblocks = []\n"
                                         "for mib in range(1, 201):\n"
                                         "    blocks.append(b'x' * (1 << 20))\n"
                                         "    print('held', mib, flush=True)\n"
                                         "print('survived 200 MB', flush=True)"});
    const Attached killed = attach(daemon.socket(), id, hog);
    INFO(killed.out.substr(killed.out.size() > 200 ? killed.out.size() - 200 : 0) << killed.err);
    CHECK(killed.out.find("held 8\n") != std::string::npos);  // it ran, and grew
    CHECK(killed.out.find("survived") == std::string::npos);
    CHECK(killed.out.find("held 64\n") == std::string::npos);
    REQUIRE(killed.exit);
    CHECK(killed.exit->signal() == SIGKILL);
    // The agent (and so the sandbox) is still the same one, and a new process starts in it.
    CHECK(agent_of(uid) == agent);
    const Attached after = run_in(daemon.socket(), id, {"sh", "-c", "id -u; echo alive"});
    CHECK(after.out == std::to_string(uid) + "\nalive\n");
    CHECK(agent_of(uid) == agent);
}

TEST_CASE("live security: a fork bomb is held by the session's pids limit, and the session serves on",
          "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "live_nproc = 48\n"));
    const std::string id = live_session(daemon.socket());
    const long uid = session_uid(daemon.socket(), id);
    const pid_t agent = agent_of(uid);
    REQUIRE(agent > 0);
    const std::uint32_t bomb = start_pid(daemon.socket(), id,
                                         {"python3", "-c",
                                          "import os, time\nprint('MARK bomb', flush=True)\n"
                                          "while True:\n"
                                          "    try:\n"
                                          "        os.fork()\n"
                                          "    except OSError:\n"
                                          "        time.sleep(0.001)\n"});
    CHECK(wait_until([&] { return processes_of_uid(uid) >= 40; }, 15s));
    for (int i = 0; i < 20; ++i) {
        CHECK(processes_of_uid(uid) <= 48);
        std::this_thread::sleep_for(50ms);
    }
    // jaild serves the rest of the host meanwhile.
    const RunResult other = run_sh(daemon.socket(), "echo elsewhere");
    CHECK(other.out == "elsewhere\n");

    v1::ClientMessage kill;
    kill.mutable_process_signal()->set_session_id(id);
    kill.mutable_process_signal()->set_pid(bomb);
    kill.mutable_process_signal()->set_signal(SIGKILL);
    CHECK(ask(daemon.socket(), kill).has_done());
    const Attached ended = attach(daemon.socket(), id, bomb);
    CHECK(ended.out.rfind("MARK bomb\n", 0) == 0);
    REQUIRE(ended.exit);
    CHECK(ended.exit->signal() == SIGKILL);
    CHECK(wait_until([&] { return processes_of_uid(uid) <= 2; }, 10s));
    CHECK(run_in(daemon.socket(), id, {"echo", "after the bomb"}).out == "after the bomb\n");
    CHECK(agent_of(uid) == agent);
}

TEST_CASE("live security: max_live holds, and a deleted one makes room", "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path(), "max_live = 2\n"));
    const std::string first = live_session(daemon.socket(), "alice");
    const std::string second = live_session(daemon.socket(), "bob");
    for (const std::string who : {"alice", "bob", "carol"}) {
        const v1::ServerMessage third = create_live(daemon.socket(), who);
        REQUIRE(third.has_error());
        CHECK(third.error().code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED);
    }
    CHECK(stats(daemon.socket()).sessions_live() == 2);
    CHECK(delete_session(daemon.socket(), first, "alice").has_done());
    // Its slot is free once its sandbox has ended, a moment after the delete's answer.
    v1::ServerMessage created;
    CHECK(wait_until([&] { return (created = create_live(daemon.socket(), "carol")).has_session(); }, 5s));
    REQUIRE(created.has_session());
    const std::string third = created.session().session_id();
    CHECK(run_in(daemon.socket(), third, {"echo", "carol"}, "carol").out == "carol\n");
    CHECK(create_live(daemon.socket(), "alice").error().code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED);
    (void)second;
}

TEST_CASE("live security: after jaild stops (SIGTERM or SIGKILL) nothing of its live sandboxes runs",
          "[security][live]") {
    TempDir state;
    std::string id;
    pid_t old_jaild = -1;
    {
        Daemon first(live_toml(state.path()));
        old_jaild = first.pid();
        id = live_session(first.socket());
        const long uid = session_uid(first.socket(), id);
        start_pid(first.socket(), id, {"sh", "-c", "echo kept > kept.txt; mkdir -p d; echo deep > d/f; sleep 300"});
        start_escapers(first.socket(), id);
        CHECK(wait_until([&] { return get_file(first.socket(), id, "d/f").has_file(); }, 5s));
        CHECK(first.terminate() == 0);
        CHECK(processes_of_uid(uid) == 0);
        CHECK(pool_processes().empty());
        CHECK(cgroups_of(old_jaild).empty());
    }
    {
        Daemon second(live_toml(state.path()));
        old_jaild = second.pid();
        v1::ClientMessage get;
        get.mutable_session_get()->set_session_id(id);
        const v1::ServerMessage info = ask(second.socket(), get);
        REQUIRE(info.has_session());
        CHECK(info.session().restarted());
        CHECK(info.session().processes_running() == 0);
        // Written by a process, written back at SIGTERM.
        CHECK(get_file(second.socket(), id, "kept.txt").file().content() == "kept\n");
        CHECK(get_file(second.socket(), id, "d/f").file().content() == "deep\n");
        // A new sandbox (the next process starts it), then jaild killed with no chance to write anything back.
        const long uid = session_uid(second.socket(), id);
        start_pid(second.socket(), id, {"sh", "-c", "echo lost > lost.txt; sleep 300"});
        start_escapers(second.socket(), id);
        CHECK(wait_until([&] { return get_file(second.socket(), id, "lost.txt").has_file(); }, 5s));
        second.kill9();
        // The agent sees its channel end and the reaper (PID 1) exits with it: the PID namespace goes whole.
        CHECK(wait_until([&] { return processes_of_uid(uid) == 0; }, 10s));
        // Its waiting warm sandboxes too.
        CHECK(wait_until([] { return pool_processes().empty(); }, 10s));
    }
    Daemon third(live_toml(state.path()));
    // The killed jaild's cgroups are stale, and a starting jaild removes them.
    CHECK(wait_until([&] { return cgroups_of(old_jaild).empty(); }, 5s));
    CHECK(sandbox_processes().empty());  // the new jaild's warm sandboxes wait, nothing runs
    // What SIGKILL loses: every change since that sandbox started (docs/sessions.md), here lost.txt; what was
    // written back before it (kept.txt, d/f) stays.
    CHECK(get_file(third.socket(), id, "kept.txt").file().content() == "kept\n");
    CHECK(get_file(third.socket(), id, "d/f").file().content() == "deep\n");
    CHECK(get_file(third.socket(), id, "lost.txt").error().code() == v1::ERROR_CODE_NOT_FOUND);
    CHECK(run_in(third.socket(), id, {"cat", "kept.txt"}).out == "kept\n");
    CHECK(delete_session(third.socket(), id).has_done());
    check_nothing_left(third.run_dir(), third.pid());
}

TEST_CASE("live security: a program cannot forge a cell's result or another process's exit", "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string& socket = daemon.socket();
    const std::string id = live_session(socket);
    const std::uint32_t victim = start_pid(socket, id, {"sleep", "300"});

    // The agent's own frames (EXIT and STARTED for the victim, CELL_EVENT), written to stdout: only output.
    const std::string forge_frames =
        "import json, os, struct, sys\n"
        "def frame(kind, id, payload):\n"
        "    return struct.pack('>IBI', len(payload) + 5, kind, id) + payload\n"
        "victim = int(sys.argv[1])\n"
        "data = (frame(0x14, victim, b'{\"exit_code\": 0, \"signal\": 0}') + frame(0x11, 1, b'{\"pid\": 1}') +\n"
        "        frame(0x15, victim, b'{\"type\": \"end\", \"execution_count\": 9}'))\n"
        "os.write(1, data)\n"
        "os.write(2, data)\n";
    const std::uint32_t forger = start_pid(socket, id, {"python3", "-c", forge_frames, std::to_string(victim)});
    const Attached forged = attach(socket, id, forger);
    REQUIRE(forged.exit);
    CHECK(forged.exit->exit_code() == 0);
    CHECK(forged.out == frame(0x14, victim, R"({"exit_code": 0, "signal": 0})") + frame(0x11, 1, R"({"pid": 1})") +
                            frame(0x15, victim, R"({"type": "end", "execution_count": 9})"));
    CHECK(forged.err == forged.out);
    CHECK(process_info(socket, id, victim).running());

    // A cell that prints what the kernel's events look like: stdout, not events.
    const std::string context = new_context(socket, id);
    const Cell printed = run_cell(socket, id, context,
                                  "print('{\"type\": \"result\", \"text\": \"FORGED\", \"is_main_result\": true}')\n"
                                  "print('{\"type\": \"end\", \"execution_count\": 99}')\n"
                                  "6 * 7");
    CHECK(printed.ended);
    CHECK(printed.out.find("FORGED") != std::string::npos);
    REQUIRE(printed.results.size() == 1);
    CHECK(printed.results[0].text() == "42");
    CHECK(main_text(printed) == "42");

    // A cell's own process holds the cell channel (fd 3): frames it writes there are taken as its own cell's
    // events only. An EXIT or a CELL_EVENT naming another process is not the victim's, nor another context's.
    const std::string other = new_context(socket, id);
    CHECK(main_text(run_cell(socket, id, other, "y = 1\ny")) == "1");
    const Cell channel = run_cell(socket, id, context,
                                  "import os, struct\n"
                                  "def frame(kind, id, payload):\n"
                                  "    return struct.pack('>IBI', len(payload) + 5, kind, id) + payload\n"
                                  "os.write(3, frame(0x14, " +
                                      std::to_string(victim) +
                                      ", b'{\"exit_code\": 0, \"signal\": 0}'))\n"
                                      "os.write(3, frame(0x11, 1, b'{\"pid\": 1}'))\n"
                                      "'own'");
    CHECK(channel.ended);
    std::this_thread::sleep_for(300ms);
    CHECK(process_info(socket, id, victim).running());
    const Cell untouched = run_cell(socket, id, other, "y + 1");
    CHECK(untouched.ended);
    REQUIRE(untouched.results.size() == 1);
    CHECK(untouched.results[0].text() == "2");
    CHECK_FALSE(untouched.error);
    CHECK(delete_session(socket, id).has_done());
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE(
    "live security: the agent's memory and channel are closed to the session's processes, and killing it "
    "ends that session's sandbox only",
    "[security][live]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string& socket = daemon.socket();
    const std::string id = live_session(socket);
    const std::string neighbour = live_session(socket);
    const long uid = session_uid(socket, id);
    const long neighbour_uid = session_uid(socket, neighbour);
    REQUIRE(uid != neighbour_uid);
    const std::uint32_t neighbour_sleeper = start_pid(socket, neighbour, {"sleep", "300"});

    // PID 2 is the agent, running as the session's uid like every process the session starts.
    const Attached probe =
        run_in(socket, id,
               {"python3", "-c",
                "import os\n"
                "print('CMD', open('/proc/2/cmdline').read().replace('\\0', ' '))\n"
                "print('UID', os.stat('/proc/2').st_uid, os.getuid())\n"
                "print('OWN', len(os.listdir('/proc/self/fd')) > 0)\n"
                "for path in ['/proc/2/fd/3', '/proc/2/mem', '/proc/2/environ', '/proc/2/fd']:\n"
                "    try:\n"
                "        if path.endswith('/fd'):\n"
                "            os.listdir(path)\n"
                "        else:\n"
                "            os.close(os.open(path, os.O_RDWR if path.endswith('3') else os.O_RDONLY))\n"
                "        print('ESCAPED', path)\n"
                "    except OSError as e:\n"
                "        print('BLOCKED', path, e.errno)\n"
                "try:\n"
                "    os.readlink('/proc/2/fd/3'); print('ESCAPED readlink')\n"
                "except OSError as e:\n"
                "    print('BLOCKED readlink', e.errno)\n"});
    INFO(probe.out << probe.err);
    CHECK(probe.out.find("CMD python3 -I -S /opt/jaild/jaild_agent.py") != std::string::npos);
    CHECK(probe.out.find("OWN True") != std::string::npos);
    CHECK(probe.out.find("ESCAPED") == std::string::npos);
    for (const char* path : {"/proc/2/fd/3", "/proc/2/mem", "/proc/2/environ", "/proc/2/fd", "readlink"})
        CHECK(probe.out.find(std::string("BLOCKED ") + path) != std::string::npos);
    const Attached listed = run_in(socket, id, {"sh", "-c", "ls -l /proc/2/fd 2>&1; echo rc=$?"});
    CHECK(listed.out.find("Permission denied") != std::string::npos);
    CHECK(listed.out.find("socket:") == std::string::npos);

    // Same uid, so it may kill it: that ends this session's sandbox, and nothing else.
    // (A moment after its start, so that the agent has told jaild it started.)
    const std::uint32_t killer =
        start_pid(socket, id, {"sh", "-c", "sleep 300 & sleep 0.5; kill -9 2; sleep 5; echo still here"});
    const Attached killed = attach(socket, id, killer, "", 15s);
    CHECK(killed.out.find("still here") == std::string::npos);
    CHECK(wait_until([&] { return processes_of_uid(uid) == 0; }, 10s));
    CHECK(process_info(socket, neighbour, neighbour_sleeper).running());
    CHECK(processes_of_uid(neighbour_uid) >= 2);
    CHECK(run_in(socket, neighbour, {"echo", "unharmed"}).out == "unharmed\n");
    CHECK(run_sh(socket, "echo served").out == "served\n");
    CHECK(delete_session(socket, id).has_done());
    CHECK(delete_session(socket, neighbour).has_done());
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("live security: the sandbox's /dev/pts holds its own terminals only", "[security][live]") {
    // A host terminal exists while the sandbox looks (this test's own, at least).
    const int host_pty = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(host_pty >= 0);
    REQUIRE(::grantpt(host_pty) == 0);
    REQUIRE(::unlockpt(host_pty) == 0);
    const std::string host_name = ::ptsname(host_pty);
    REQUIRE(std::filesystem::exists(host_name));

    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());
    const Attached pipes = run_in(daemon.socket(), id, {"sh", "-c", "ls /dev/pts | sort | tr '\\n' ' '"});
    CHECK(pipes.out == "ptmx ");
    const std::uint32_t first = start_pid(daemon.socket(), id, {"sleep", "300"}, "", true);
    const std::uint32_t second =
        start_pid(daemon.socket(), id, {"sh", "-c", "tty; ls /dev/pts | sort | tr '\\n' ' '"}, "", true);
    const Attached seen = attach(daemon.socket(), id, second);
    INFO(seen.out);
    CHECK(seen.out.find("/dev/pts/1\r\n") != std::string::npos);
    CHECK(seen.out.find("0 1 ptmx ") != std::string::npos);
    // The host's terminal is not there by its number either (when its number is one the sandbox has not used).
    const std::string number = host_name.substr(host_name.rfind('/') + 1);
    const Attached opened =
        run_in(daemon.socket(), id, {"sh", "-c", "exec 3<> /dev/pts/" + number + " && echo OPENED || echo REFUSED"});
    if (number != "0" && number != "1") CHECK(opened.out.find("REFUSED") != std::string::npos);
    const Attached mounted = run_in(daemon.socket(), id, {"sh", "-c", "grep ' /dev/pts ' /proc/self/mounts"});
    CHECK(mounted.out.find("devpts") != std::string::npos);
    (void)first;
    ::close(host_pty);
    CHECK(delete_session(daemon.socket(), id).has_done());
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("live security: a process cannot prlimit, kill, read or trace the sandbox's PID 1",
          "[security][live][reaper]") {
    TempDir state;
    Daemon daemon(live_toml(state.path()));
    const std::string id = live_session(daemon.socket());
    const long uid = session_uid(daemon.socket(), id);
    const Attached seen = run_in(daemon.socket(), id, {"sh", "-c", reaper_attack_script()});
    INFO(seen.out << seen.err);
    CHECK(seen.exit->exit_code() == 0);
    check_reaper_untouched(seen.out);
    // The session's files are still the program's uid's, and the agent serves on.
    CHECK(reaper_attack_ids(seen.out, "SELF", "Uid").rfind(std::to_string(uid) + " ", 0) == 0);
    CHECK(session_uid(daemon.socket(), id) == uid);
    CHECK(run_in(daemon.socket(), id, {"stat", "-c", "%u", "/workspace"}).out == std::to_string(uid) + "\n");
    CHECK(delete_session(daemon.socket(), id).has_done());
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

}  // namespace jaild::test

namespace jaild::test {

TEST_CASE("live security: another tenant's key finds nothing of a live session through HTTP", "[security][live]") {
    TenantsFile keys;
    const std::string victim = keys.create("victim");
    const std::string intruder = keys.create("intruder");
    KeyedStack stack(keys);
    const HttpResponse created = post_json(stack.port(), "/sessions", R"({"live": true})", bearer(victim));
    const bool live =
        created.status == 201 && created.json().as_object().if_contains("live") && created.json().at("live") == true;
    if (!live) {
        skip("the gateway serves no live sessions (POST /sessions {\"live\": true} answered " +
             std::to_string(created.status) + ")");
        return;
    }
    const std::string id(created.json().at("session_id").as_string());
    const HttpResponse started =
        post_json(stack.port(), "/sessions/" + id + "/processes", R"({"command": ["sleep", "300"]})", bearer(victim));
    REQUIRE(started.status == 201);
    const std::string pid = std::to_string(started.json().at("pid").as_int64());
    const HttpResponse context =
        post_json(stack.port(), "/sessions/" + id + "/contexts", R"({"language": "python"})", bearer(victim));
    REQUIRE(context.status == 201);
    const std::string ctx(context.json().at("context_id").as_string());

    struct Route {
        const char* method;
        std::string target;
        const char* body;
    };
    const std::string session = "/sessions/" + id, process = session + "/processes/" + pid,
                      cell = session + "/contexts/" + ctx;
    const std::vector<Route> routes = {
        {"GET", session + "/processes", ""},
        {"POST", session + "/processes", R"({"command": ["true"]})"},
        {"GET", process, ""},
        {"GET", process + "/output", ""},
        {"GET", process + "/wait", ""},
        {"POST", process + "/stdin?eof=1", ""},
        {"POST", process + "/signal", R"({"signal": "SIGKILL"})"},
        {"POST", process + "/resize", R"({"rows": 10, "cols": 10})"},
        {"GET", session + "/contexts", ""},
        {"POST", session + "/contexts", R"({"language": "python"})"},
        {"POST", cell + "/run", R"({"code": "1"})"},
        {"POST", cell + "/interrupt", ""},
        {"POST", cell + "/restart", ""},
        {"DELETE", cell, ""},
        {"POST", session + "/timeout", R"({"timeout_ms": 1})"},
        {"GET", session + "/files", ""},
        {"DELETE", session, ""},
    };
    for (const Route& route : routes) {
        INFO(route.method << " " << route.target);
        Headers headers = bearer(intruder);
        headers["Content-Type"] = "application/json";
        const HttpResponse response = http_request(stack.port(), route.method, route.target, route.body, headers, 10s);
        INFO(response.body);
        CHECK(response.status == 404);
    }
    const HttpResponse still = http_request(stack.port(), "GET", process, "", bearer(victim));
    REQUIRE(still.status == 200);
    CHECK(still.json().at("running") == true);
    CHECK(http_request(stack.port(), "DELETE", session, "", bearer(victim)).status / 100 == 2);
}

}  // namespace jaild::test
