// Sessions through a real jaild: files, env and cwd persist across runs and restarts (SIGTERM and kill -9);
// uploads, downloads, listings and deletes; every traversal and planted-link trick refused; the quota holds
// inside the sandbox; runs in one session are serialised; unused sessions expire; principals are apart.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "common/node_id.h"
#include "tests/support/harness.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

v1::ServerMessage ask(const std::string& socket, const v1::ClientMessage& request) {
    Connection connection(socket);
    connection.send(request);
    v1::ServerMessage reply;
    REQUIRE(connection.receive(reply));
    return reply;
}

std::string create(const std::string& socket, const std::map<std::string, std::string>& env = {},
                   const std::string& principal = "", const std::string& name = "") {
    v1::ClientMessage request;
    request.set_principal(principal);
    request.mutable_session_create()->set_name(name);
    for (const auto& [key, value] : env) (*request.mutable_session_create()->mutable_env())[key] = value;
    const v1::ServerMessage reply = ask(socket, request);
    INFO("reply kind " << reply.kind_case() << ", error: " << reply.error().message());
    REQUIRE(reply.has_session());
    return reply.session().session_id();
}

RunResult session_sh(const std::string& socket, const std::string& id, const std::string& script,
                     const std::string& principal = "") {
    v1::ClientMessage message = shell(script);
    message.set_principal(principal);
    message.mutable_run()->set_session_id(id);
    return run(socket, message);
}

v1::ServerMessage get_info(const std::string& socket, const std::string& id, const std::string& principal = "") {
    v1::ClientMessage request;
    request.set_principal(principal);
    request.mutable_session_get()->set_session_id(id);
    return ask(socket, request);
}

v1::ServerMessage put(const std::string& socket, const std::string& id, const std::string& path,
                      const std::string& content) {
    v1::ClientMessage request;
    request.mutable_file_put()->set_session_id(id);
    request.mutable_file_put()->set_path(path);
    request.mutable_file_put()->set_content(content);
    return ask(socket, request);
}

v1::ServerMessage get(const std::string& socket, const std::string& id, const std::string& path) {
    v1::ClientMessage request;
    request.mutable_file_get()->set_session_id(id);
    request.mutable_file_get()->set_path(path);
    return ask(socket, request);
}

std::string read_host(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string sessions_toml(const std::string& state_dir, const std::string& extra = "") {
    return "[sessions]\nstate_dir = \"" + state_dir + "\"\n" + extra;
}

}  // namespace

TEST_CASE("a session keeps its files, /tmp, env and cwd from run to run", "[sessions]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path(), "[node]\nid = \"test-node\"\n"));
    const std::string id = create(daemon.socket(), {{"MY_VAR", "hello"}});
    const auto id_parts = parse_session_id(id);
    REQUIRE(id_parts);
    CHECK(id_parts->node == "test-node");  // 32 hex digits, '-', the node id

    // Seed 003's sequence: a file in /tmp survives into the next run.
    RunResult write = session_sh(daemon.socket(), id, "echo hello > /tmp/test.txt; echo $MY_VAR > work.txt");
    REQUIRE(write.has_exit);
    CHECK(write.exit.status() == v1::STATUS_OK);
    RunResult read = session_sh(daemon.socket(), id, "cat /tmp/test.txt work.txt; pwd");
    CHECK(read.out == "hello\nhello\n/workspace\n");

    v1::ClientMessage env;
    env.mutable_session_set_env()->set_session_id(id);
    (*env.mutable_session_set_env()->mutable_set())["GH_TOKEN"] = "secret";
    env.mutable_session_set_env()->add_unset("MY_VAR");
    v1::ServerMessage info = ask(daemon.socket(), env);
    REQUIRE(info.has_session());
    CHECK(info.session().env().count("MY_VAR") == 0);
    CHECK(info.session().env().at("GH_TOKEN") == "secret");

    v1::ClientMessage cwd;
    cwd.mutable_session_set_cwd()->set_session_id(id);
    cwd.mutable_session_set_cwd()->set_cwd("/tmp");
    CHECK(ask(daemon.socket(), cwd).session().cwd() == "/tmp");
    cwd.mutable_session_set_cwd()->set_cwd("../etc");
    const v1::ServerMessage bad_cwd = ask(daemon.socket(), cwd);
    REQUIRE(bad_cwd.has_error());
    CHECK(bad_cwd.error().field() == "cwd");

    RunResult after = session_sh(daemon.socket(), id, "pwd; echo \"[$MY_VAR][$GH_TOKEN]\"; ls");
    CHECK(after.out == "/tmp\n[][secret]\ntest.txt\n");

    info = get_info(daemon.socket(), id);
    CHECK(info.session().files_count() >= 2);
    CHECK(info.session().disk_used_bytes() >= 12);
    CHECK(info.session().quota_bytes() == 100ull * 1024 * 1024);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("session files: upload, download, list and delete", "[sessions]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path()));
    const std::string id = create(daemon.socket());
    CHECK(put(daemon.socket(), id, "dir/sub/data.bin", std::string("\0\1\2binary", 9)).has_done());
    CHECK(put(daemon.socket(), id, "top.txt", "top\n").has_done());
    const v1::ServerMessage got = get(daemon.socket(), id, "dir/sub/data.bin");
    REQUIRE(got.has_file());
    CHECK(got.file().content() == std::string("\0\1\2binary", 9));

    RunResult seen = session_sh(daemon.socket(), id, "cat top.txt; wc -c < dir/sub/data.bin; echo made > out.txt");
    CHECK(seen.out == "top\n9\n");
    CHECK(get(daemon.socket(), id, "out.txt").file().content() == "made\n");

    v1::ClientMessage list;
    list.mutable_file_list()->set_session_id(id);
    const v1::ServerMessage listing = ask(daemon.socket(), list);
    REQUIRE(listing.has_files());
    std::vector<std::string> paths;
    for (const auto& entry : listing.files().files()) paths.push_back(entry.path() + ":" + entry.type());
    CHECK(paths == std::vector<std::string>{"dir:directory", "dir/sub:directory", "dir/sub/data.bin:file",
                                            "out.txt:file", "top.txt:file"});

    v1::ClientMessage remove;
    remove.mutable_file_delete()->set_session_id(id);
    remove.mutable_file_delete()->set_path("dir");
    CHECK(ask(daemon.socket(), remove).has_done());
    const v1::ServerMessage gone = get(daemon.socket(), id, "dir/sub/data.bin");
    REQUIRE(gone.has_error());
    CHECK(gone.error().code() == v1::ERROR_CODE_NOT_FOUND);
    CHECK(session_sh(daemon.socket(), id, "ls").out == "out.txt\ntop.txt\n");

    v1::ClientMessage drop;
    drop.mutable_session_delete()->set_session_id(id);
    CHECK(ask(daemon.socket(), drop).has_done());
    CHECK(get_info(daemon.socket(), id).error().code() == v1::ERROR_CODE_NOT_FOUND);
    CHECK_FALSE(std::filesystem::exists(state.path() + "/sessions/" + id));
}

TEST_CASE("every traversal and planted-link trick is refused", "[sessions][security]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path()));
    const std::string id = create(daemon.socket());
    const std::string passwd = read_host("/etc/passwd");
    for (const std::string path : {"../escape", "/etc/passwd", "a/../../x", "..", "", "a//b", "./x"}) {
        INFO(path);
        const v1::ServerMessage down = get(daemon.socket(), id, path);
        REQUIRE(down.has_error());
        CHECK(down.error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
        const v1::ServerMessage up = put(daemon.socket(), id, path, "x");
        REQUIRE(up.has_error());
        CHECK(up.error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    }
    // Sandboxed code plants links and special files; they must never lead a download or upload out.
    RunResult plant = session_sh(daemon.socket(), id,
                                 "ln -s /etc/passwd leak; ln -s / root; ln -s .. up; mkdir d; ln -s /etc d/etc; "
                                 "mkfifo fifo; ln /etc/passwd hard 2>/dev/null; true");
    REQUIRE(plant.has_exit);
    for (const std::string path : {"leak", "root/etc/passwd", "up/sessions", "d/etc/passwd", "fifo", "hard"}) {
        INFO(path);
        const v1::ServerMessage down = get(daemon.socket(), id, path);
        REQUIRE(down.has_error());
        CHECK(down.error().message().find("root:") == std::string::npos);
    }
    CHECK(get(daemon.socket(), id, "root/etc/passwd").error().message().find("symbolic link") != std::string::npos);
    // Writing through a planted link replaces the link; it never writes where the link points.
    CHECK(put(daemon.socket(), id, "leak", "mine\n").has_done());
    CHECK(put(daemon.socket(), id, "d/etc/passwd", "x").has_error());
    CHECK(put(daemon.socket(), id, "root/tmp/x", "x").has_error());
    CHECK(read_host("/etc/passwd") == passwd);
    CHECK(get(daemon.socket(), id, "leak").file().content() == "mine\n");

    // A run keeps swapping a directory and a symlink to /; a download waits for the run (the session is
    // held) and then sees one or the other, never the host's file.
    v1::ClientMessage swapper = shell(
        "end=$(($(date +%s)+2)); while [ $(date +%s) -lt $end ]; do rm -rf s; mkdir -p s/etc; echo inside > "
        "s/etc/passwd; rm -rf s; ln -s / s; done");
    swapper.mutable_run()->set_session_id(id);
    auto running = std::async(std::launch::async, [&] { return run(daemon.socket(), swapper); });
    std::this_thread::sleep_for(300ms);
    for (int i = 0; i < 5; ++i) {
        const v1::ServerMessage down = get(daemon.socket(), id, "s/etc/passwd");
        if (down.has_file()) CHECK(down.file().content() == "inside\n");
        if (down.has_error()) CHECK(down.error().message().find("root:") == std::string::npos);
    }
    CHECK(running.get().has_exit);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("the quota holds inside the sandbox and for uploads, and the host's disk is untouched", "[sessions]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path(), "quota_kb = 8192\n"));
    const std::string id = create(daemon.socket());
    struct statvfs before {};
    REQUIRE(::statvfs(state.path().c_str(), &before) == 0);
    v1::Limits big;
    big.set_fsize_kb(1024 * 1024);
    v1::ClientMessage fill = shell(
        "dd if=/dev/zero of=big bs=1M count=64 2>&1; echo rc=$?; dd if=/dev/zero "
        "of=/tmp/more bs=1M count=64 2>/dev/null; echo rc=$?",
        big);
    fill.mutable_run()->set_session_id(id);
    RunResult result = run(daemon.socket(), fill);
    REQUIRE(result.has_exit);
    CHECK_THAT(result.out, Catch::Contains("No space left on device"));
    CHECK_THAT(result.out, Catch::Contains("rc=1"));
    const v1::ServerMessage info = get_info(daemon.socket(), id);
    CHECK(info.session().disk_used_bytes() <= 8192ull * 1024);
    struct statvfs after {};
    REQUIRE(::statvfs(state.path().c_str(), &after) == 0);
    const auto used = static_cast<std::int64_t>(before.f_bavail) - static_cast<std::int64_t>(after.f_bavail);
    // 128 MiB were attempted; what reached the disk is the session's 8 MiB (plus whatever else wrote there).
    CHECK(used * static_cast<std::int64_t>(before.f_frsize) < 32 * 1024 * 1024);

    const v1::ServerMessage upload = put(daemon.socket(), id, "upload.bin", std::string(9 * 1024 * 1024, 'x'));
    REQUIRE(upload.has_error());
    CHECK(upload.error().code() == v1::ERROR_CODE_QUOTA_EXCEEDED);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("runs in one session are serialised in arrival order, other sessions run beside", "[sessions]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path()));
    const std::string one = create(daemon.socket()), two = create(daemon.socket());
    auto first = std::async(std::launch::async,
                            [&] { return session_sh(daemon.socket(), one, "echo a > f; sleep 1; cat f; date +%s%N"); });
    std::this_thread::sleep_for(200ms);
    auto second = std::async(std::launch::async,
                             [&] { return session_sh(daemon.socket(), one, "date +%s%N; echo b > f; cat f"); });
    const auto other_start = std::chrono::steady_clock::now();
    RunResult other = session_sh(daemon.socket(), two, "echo other");
    CHECK(std::chrono::steady_clock::now() - other_start < 900ms);  // not behind session one's queue
    CHECK(other.out == "other\n");
    RunResult a = first.get(), b = second.get();
    INFO(a.out << b.out);
    REQUIRE(a.out.rfind("a\n", 0) == 0);  // the second run did not write f while the first slept
    REQUIRE(b.out.size() > 3);
    CHECK(b.out.substr(b.out.size() - 2) == "b\n");
    const long long a_end = std::stoll(a.out.substr(2)), b_start = std::stoll(b.out);
    CHECK(b_start > a_end);  // the second started only after the first ended
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("an unused session expires with its files, a running one does not", "[sessions]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path(), "ttl_s = 1\n"));
    const std::string idle = create(daemon.socket());
    const std::string busy = create(daemon.socket());
    auto running = std::async(std::launch::async, [&] { return session_sh(daemon.socket(), busy, "sleep 2.5"); });
    // Watched on disk: asking jaild about it would be using it.
    CHECK(wait_until([&] { return !std::filesystem::exists(state.path() + "/sessions/" + idle); }, 4s));
    CHECK(get_info(daemon.socket(), idle).error().code() == v1::ERROR_CODE_NOT_FOUND);
    CHECK(running.get().exit.status() == v1::STATUS_OK);
    CHECK(get_info(daemon.socket(), busy).has_session());  // its last use was the end of the run
}

TEST_CASE("sessions survive jaild's SIGTERM and kill -9 with files, env and cwd", "[sessions]") {
    TempDir state;
    std::string id;
    {
        Daemon first(sessions_toml(state.path()));
        id = create(first.socket(), {{"KEEP", "kept"}});
        CHECK(session_sh(first.socket(), id, "echo persisted > a.txt; echo t > /tmp/t").exit.status() == v1::STATUS_OK);
        v1::ClientMessage cwd;
        cwd.mutable_session_set_cwd()->set_session_id(id);
        cwd.mutable_session_set_cwd()->set_cwd("/workspace/sub");
        CHECK(ask(first.socket(), cwd).error().field() == "cwd");  // no sub yet
        CHECK(put(first.socket(), id, "sub/b.txt", "uploaded\n").has_done());
        CHECK(ask(first.socket(), cwd).has_session());
        CHECK(first.terminate() == 0);
    }
    {
        Daemon second(sessions_toml(state.path()));
        RunResult after = session_sh(second.socket(), id, "pwd; cat ../a.txt b.txt /tmp/t; echo $KEEP");
        CHECK(after.out == "/workspace/sub\npersisted\nuploaded\nt\nkept\n");
        CHECK(put(second.socket(), id, "c.txt", "before kill\n").has_done());
        second.kill9();
    }
    Daemon third(sessions_toml(state.path()));
    CHECK(get(third.socket(), id, "c.txt").file().content() == "before kill\n");
    CHECK(get_info(third.socket(), id).session().env().at("KEEP") == "kept");
    check_nothing_left(third.run_dir(), third.pid());
}

TEST_CASE("a session whose id names no node (made before [node] id) keeps working on its node", "[sessions][node]") {
    TempDir state;
    std::string old_id;
    {
        Daemon first(sessions_toml(state.path(), "[node]\nid = \"node-a\"\n"));
        const std::string id = create(first.socket(), {{"KEEP", "kept"}});
        CHECK(put(first.socket(), id, "a.txt", "from before\n").has_done());
        CHECK(first.terminate() == 0);
        // What an older jaild left: the directory and meta.json's id are the 32 hex digits alone.
        old_id = std::string(parse_session_id(id)->random);
        const std::string sessions = state.path() + "/sessions/";
        std::filesystem::rename(sessions + id, sessions + old_id);
        std::ifstream in(sessions + old_id + "/meta.json");
        std::string meta((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::size_t at = meta.find(id);
        REQUIRE(at != std::string::npos);
        meta.replace(at, id.size(), old_id);
        std::ofstream(sessions + old_id + "/meta.json", std::ios::trunc) << meta;
    }
    Daemon second(sessions_toml(state.path(), "[node]\nid = \"node-a\"\n"));
    CHECK(get(second.socket(), old_id, "a.txt").file().content() == "from before\n");
    RunResult after = session_sh(second.socket(), old_id, "cat a.txt; echo $KEEP");
    CHECK(after.out == "from before\nkept\n");
    // New sessions get the node's id beside it.
    const auto fresh = parse_session_id(create(second.socket()));
    REQUIRE(fresh);
    CHECK(fresh->node == "node-a");
    check_nothing_left(second.run_dir(), second.pid());
}

TEST_CASE("sessions belong to their principal, have limits, and can be found by name", "[sessions]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path(), "max_per_principal = 2\n"));
    const std::string alice = create(daemon.socket(), {}, "alice");
    CHECK(get_info(daemon.socket(), alice, "alice").has_session());
    const v1::ServerMessage stolen = get_info(daemon.socket(), alice, "bob");
    REQUIRE(stolen.has_error());
    CHECK(stolen.error().code() == v1::ERROR_CODE_NOT_FOUND);
    RunResult bob_run = session_sh(daemon.socket(), alice, "echo hi", "bob");
    REQUIRE(bob_run.has_error);
    CHECK(bob_run.error.code() == v1::ERROR_CODE_NOT_FOUND);

    v1::ClientMessage list;
    list.set_principal("bob");
    list.mutable_session_list();
    CHECK(ask(daemon.socket(), list).sessions().sessions_size() == 0);

    // Seed 002's user_id: the same name gives the same session.
    const std::string named = create(daemon.socket(), {}, "alice", "u1");
    CHECK(create(daemon.socket(), {}, "alice", "u1") == named);
    v1::ClientMessage third;
    third.set_principal("alice");
    third.mutable_session_create();
    const v1::ServerMessage refused = ask(daemon.socket(), third);
    REQUIRE(refused.has_error());
    CHECK(refused.error().code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED);
    CHECK_THAT(refused.error().message(), Catch::Contains("2 sessions"));
}

TEST_CASE("seed 002: data and result in a session, compiled languages too", "[sessions][languages]") {
    TempDir state;
    Daemon daemon(sessions_toml(state.path()));
    const std::string id = create(daemon.socket(), {}, "", "anonymous");
    v1::ClientMessage message;
    message.mutable_execute()->set_language("python");
    message.mutable_execute()->set_mode(v1::EXECUTE_MODE_RESULT_VARIABLE);
    message.mutable_execute()->set_code("result = x + y\nopen('kept.txt', 'w').write('k')");
    message.mutable_execute()->set_data_json("{\"x\": 1, \"y\": 2}");
    message.mutable_execute()->set_session_id(id);
    RunResult result = run(daemon.socket(), message);
    REQUIRE(result.has_exit);
    CHECK(result.exit.result_json() == "3");
    CHECK(session_sh(daemon.socket(), id, "ls").out == "kept.txt\n");  // the code file is not kept

    v1::ClientMessage c;
    c.mutable_execute()->set_language("c");
    c.mutable_execute()->set_code(
        "#include <stdio.h>\nint main(void) { FILE* f = fopen(\"kept.txt\", \"r\"); "
        "printf(\"%c\\n\", fgetc(f)); return 0; }\n");
    c.mutable_execute()->set_session_id(id);
    CHECK(run(daemon.socket(), c).out == "k\n");
    check_nothing_left(daemon.run_dir(), daemon.pid());
}
