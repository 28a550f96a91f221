// The session and file API without a socket: SessionService's replies over a SessionStore in a temporary
// state directory, and the store's staging of a run's workspace. Unprivileged: files the daemon would write
// as root are put in place by the test.
#include "jaild/session_service.h"

#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace jaild;

namespace {

struct TempDir {
    TempDir() {
        char pattern[] = "/tmp/session_service_test.XXXXXX";
        REQUIRE(::mkdtemp(pattern));
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path path;
};

// A small quota and two sessions per caller, in `dir` (never the daemon's own state directory).
SessionsConfig config_in(const fs::path& dir) {
    SessionsConfig config;
    config.state_dir = dir.string();
    config.quota_kb = 4;
    config.max_per_principal = 2;
    return config;
}

struct Fixture {
    Fixture() {
        REQUIRE(config.state_dir == dir.path.string());
        store.load();
    }
    ~Fixture() { store.stop(); }

    v1::ServerMessage session(const v1::ClientMessage& request, const std::string& principal = "uid:1") {
        return service.session_request(principal, request);
    }
    v1::ServerMessage file(const v1::ClientMessage& request, const std::string& principal = "uid:1") {
        std::shared_ptr<Session> found = store.find(principal, SessionService::session_id_of(request));
        if (!found) return SessionService::no_session(SessionService::session_id_of(request));
        return service.file_request(request, *found);
    }
    std::string create(const std::string& name = {}) {
        v1::ClientMessage request;
        request.mutable_session_create()->set_name(name);
        (*request.mutable_session_create()->mutable_env())["A"] = "1";
        const v1::ServerMessage reply = session(request);
        REQUIRE(reply.has_session());
        return reply.session().session_id();
    }

    TempDir dir;
    SessionsConfig config = config_in(dir.path);  // before the store, which keeps a reference
    boost::asio::io_context io;
    SessionStore store{config, "unit", io.get_executor()};
    SessionService service{store, "", 1 << 20};
};

void check_error(const v1::ServerMessage& reply, v1::ErrorCode code, const std::string& field) {
    INFO(reply.DebugString());
    REQUIRE(reply.has_error());
    CHECK(reply.error().code() == code);
    CHECK(reply.error().field() == field);
    CHECK(!reply.error().message().empty());
}

}  // namespace

TEST_CASE("SessionService creates, shows, changes and deletes a caller's sessions", "[unit][sessions]") {
    Fixture f;
    const std::string id = f.create();
    v1::ClientMessage get;
    get.mutable_session_get()->set_session_id(id);
    v1::ServerMessage reply = f.session(get);
    REQUIRE(reply.has_session());
    CHECK(reply.session().env().at("A") == "1");
    CHECK(reply.session().cwd() == "/workspace");
    CHECK(reply.session().quota_bytes() == 4096);
    CHECK(!reply.session().running());

    v1::ClientMessage env;
    env.mutable_session_set_env()->set_session_id(id);
    (*env.mutable_session_set_env()->mutable_set())["B"] = "2";
    env.mutable_session_set_env()->add_unset("A");
    reply = f.session(env);
    REQUIRE(reply.has_session());
    CHECK(reply.session().env().size() == 1);
    CHECK(reply.session().env().at("B") == "2");

    v1::ClientMessage cwd;
    cwd.mutable_session_set_cwd()->set_session_id(id);
    cwd.mutable_session_set_cwd()->set_cwd("/tmp");
    CHECK(f.session(cwd).session().cwd() == "/tmp");
    cwd.mutable_session_set_cwd()->set_cwd("/workspace/missing");
    check_error(f.session(cwd), v1::ERROR_CODE_INVALID_ARGUMENT, "cwd");
    cwd.mutable_session_set_cwd()->set_cwd("relative");
    check_error(f.session(cwd), v1::ERROR_CODE_INVALID_ARGUMENT, "cwd");

    v1::ClientMessage list;
    list.mutable_session_list();
    CHECK(f.session(list).sessions().sessions_size() == 1);

    v1::ClientMessage remove;
    remove.mutable_session_delete()->set_session_id(id);
    CHECK(f.session(remove).has_done());
    check_error(f.session(get), v1::ERROR_CODE_NOT_FOUND, "session_id");
    REQUIRE(f.session(list).has_sessions());
    CHECK(f.session(list).sessions().sessions_size() == 0);
}

TEST_CASE("SessionService keeps principals apart and refuses bad input by field", "[unit][sessions]") {
    Fixture f;
    const std::string id = f.create("named");
    CHECK(f.create("named") == id);  // a name finds its session

    v1::ClientMessage get;
    get.mutable_session_get()->set_session_id(id);
    check_error(f.session(get, "uid:2"), v1::ERROR_CODE_NOT_FOUND, "session_id");
    v1::ClientMessage list;
    list.mutable_session_list();
    CHECK(f.session(list, "uid:2").sessions().sessions_size() == 0);

    v1::ClientMessage bad;
    (*bad.mutable_session_create()->mutable_env())["A=B"] = "1";
    check_error(f.session(bad), v1::ERROR_CODE_INVALID_ARGUMENT, "env");
    bad.mutable_session_create()->clear_env();
    (*bad.mutable_session_create()->mutable_env())["A"] = std::string("x\0y", 3);
    check_error(f.session(bad), v1::ERROR_CODE_INVALID_ARGUMENT, "env");
    bad.mutable_session_create()->clear_env();
    bad.mutable_session_create()->set_name(std::string(129, 'n'));
    check_error(f.session(bad), v1::ERROR_CODE_INVALID_ARGUMENT, "name");

    f.create();  // the second of max_per_principal
    v1::ClientMessage third;
    third.mutable_session_create();
    check_error(f.session(third), v1::ERROR_CODE_RESOURCE_EXHAUSTED, "");
}

TEST_CASE("SessionService keeps a session's labels, in meta.json too, and refuses bad ones by field",
          "[unit][sessions]") {
    Fixture f;
    v1::ClientMessage create;
    auto& labels = *create.mutable_session_create()->mutable_labels();
    labels["e2b.template"] = "base";
    labels["e2b.meta.owner"] = "ünïcode value";
    const v1::ServerMessage made = f.session(create);
    REQUIRE(made.has_session());
    CHECK(made.session().labels().size() == 2);
    CHECK(made.session().labels().at("e2b.meta.owner") == "ünïcode value");

    SessionStore reloaded{f.config, "unit", f.io.get_executor()};  // what a restarted jaild reads back
    reloaded.load();
    const std::shared_ptr<Session> again = reloaded.find("uid:1", made.session().session_id());
    REQUIRE(again);
    CHECK(again->meta.labels ==
          std::map<std::string, std::string>{{"e2b.meta.owner", "ünïcode value"}, {"e2b.template", "base"}});
    reloaded.stop();

    labels.clear();
    labels[std::string(129, 'k')] = "v";
    check_error(f.session(create), v1::ERROR_CODE_INVALID_ARGUMENT, "labels");
    labels.clear();
    labels["k"] = std::string(1025, 'v');
    check_error(f.session(create), v1::ERROR_CODE_INVALID_ARGUMENT, "labels");
    labels.clear();
    for (int i = 0; i < 65; ++i) labels["k" + std::to_string(i)] = "v";
    check_error(f.session(create), v1::ERROR_CODE_INVALID_ARGUMENT, "labels");
}

TEST_CASE("SessionService applies a principal's quota: its session count and its sessions' disk together",
          "[unit][sessions][quotas]") {
    Fixture f;  // max_per_principal 2, 4 KiB per session
    v1::ClientMessage create;
    create.mutable_session_create();
    create.mutable_quota()->set_max_sessions(3);
    create.mutable_quota()->set_max_session_disk_kb(6);
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        const v1::ServerMessage reply = f.session(create);
        REQUIRE(reply.has_session());
        ids.push_back(reply.session().session_id());
    }
    v1::ServerMessage refused = f.session(create);
    check_error(refused, v1::ERROR_CODE_RESOURCE_EXHAUSTED, "");
    CHECK(refused.error().message() == "you hold the maximum of 3 sessions; delete one first");
    create.mutable_quota()->set_max_sessions(1);  // below the configuration: another principal's first only
    CHECK(f.session(create, "uid:2").has_session());
    check_error(f.session(create, "uid:2"), v1::ERROR_CODE_RESOURCE_EXHAUSTED, "");

    // 6 KiB for the three sessions together, 4 KiB for each.
    const auto put = [&](const std::string& id, std::size_t bytes) {
        v1::ClientMessage message;
        message.mutable_file_put()->set_session_id(id);
        message.mutable_file_put()->set_path("f.bin");
        message.mutable_file_put()->set_content(std::string(bytes, 'x'));
        message.mutable_quota()->set_max_session_disk_kb(6);
        return f.file(message);
    };
    CHECK(put(ids[0], 4000).has_done());
    const v1::ServerMessage over = put(ids[1], 3000);
    check_error(over, v1::ERROR_CODE_QUOTA_EXCEEDED, "content");
    CHECK_THAT(over.error().message(), Catch::Contains("total disk quota of 6144 bytes"));
    CHECK(put(ids[1], 2144).has_done());  // exactly the total
    check_error(put(ids[2], 1), v1::ERROR_CODE_QUOTA_EXCEEDED, "content");
    CHECK(put(ids[0], 3000).has_done());  // replacing a file frees what it held
    CHECK(put(ids[2], 1000).has_done());

    // With the total used up (3000 + 2144 + 1000 bytes), no new session either, until one goes.
    v1::ClientMessage remove;
    remove.mutable_session_delete()->set_session_id(ids[0]);
    create.mutable_quota()->set_max_sessions(4);
    refused = f.session(create);
    check_error(refused, v1::ERROR_CODE_RESOURCE_EXHAUSTED, "");
    CHECK_THAT(refused.error().message(), Catch::Contains("total disk quota of 6 KiB"));
    CHECK(f.session(remove).has_done());
    CHECK(f.session(create).has_session());
}

TEST_CASE("SessionService lists, reads and deletes a session's files and refuses what does not fit",
          "[unit][sessions]") {
    Fixture f;
    const std::string id = f.create();
    const fs::path workspace = f.dir.path / "sessions" / id / "data" / "workspace";
    REQUIRE(fs::is_directory(workspace));
    std::ofstream(workspace / "a.txt") << "hello";

    v1::ClientMessage list;
    list.mutable_file_list()->set_session_id(id);
    v1::ServerMessage reply = f.file(list);
    REQUIRE(reply.files().files_size() == 1);
    CHECK(reply.files().files(0).path() == "a.txt");
    CHECK(reply.files().files(0).size() == 5);

    v1::ClientMessage get;
    get.mutable_file_get()->set_session_id(id);
    get.mutable_file_get()->set_path("a.txt");
    CHECK(f.file(get).file().content() == "hello");
    get.mutable_file_get()->set_path("missing.txt");
    check_error(f.file(get), v1::ERROR_CODE_NOT_FOUND, "path");

    v1::ClientMessage put;
    put.mutable_file_put()->set_session_id(id);
    put.mutable_file_put()->set_path("big.bin");
    put.mutable_file_put()->set_content(std::string(5000, 'x'));
    check_error(f.file(put), v1::ERROR_CODE_QUOTA_EXCEEDED, "content");
    CHECK(!fs::exists(workspace / "big.bin"));

    v1::ClientMessage remove;
    remove.mutable_file_delete()->set_session_id(id);
    remove.mutable_file_delete()->set_path("../meta.json");
    check_error(f.file(remove), v1::ERROR_CODE_INVALID_ARGUMENT, "path");
    CHECK(fs::exists(f.dir.path / "sessions" / id / "meta.json"));
    remove.mutable_file_delete()->set_path("a.txt");
    CHECK(f.file(remove).has_done());
    CHECK(!fs::exists(workspace / "a.txt"));
    list.mutable_file_list()->set_session_id("nonexistent");
    check_error(f.file(list), v1::ERROR_CODE_NOT_FOUND, "session_id");
}

TEST_CASE("SessionService stats, makes directories, moves and lists below a path to a depth", "[unit][sessions]") {
    Fixture f;
    const std::string id = f.create();
    const fs::path workspace = f.dir.path / "sessions" / id / "data" / "workspace";
    const auto request = [&](auto fill) {
        v1::ClientMessage message;
        fill(message);
        return f.file(message);
    };
    const auto make_dir = [&](const std::string& path) {
        return request([&](v1::ClientMessage& m) {
            m.mutable_file_make_dir()->set_session_id(id);
            m.mutable_file_make_dir()->set_path(path);
        });
    };
    const auto stat = [&](const std::string& path) {
        return request([&](v1::ClientMessage& m) {
            m.mutable_file_stat()->set_session_id(id);
            m.mutable_file_stat()->set_path(path);
        });
    };
    const auto move = [&](const std::string& from, const std::string& to) {
        return request([&](v1::ClientMessage& m) {
            m.mutable_file_move()->set_session_id(id);
            m.mutable_file_move()->set_source(from);
            m.mutable_file_move()->set_destination(to);
        });
    };
    const auto list = [&](const std::string& path, std::uint32_t depth) {
        return request([&](v1::ClientMessage& m) {
            m.mutable_file_list()->set_session_id(id);
            m.mutable_file_list()->set_path(path);
            m.mutable_file_list()->set_depth(depth);
        });
    };

    // mkdir -p: the directory and its parents, then ALREADY_EXISTS; a file in the way is INVALID_ARGUMENT.
    v1::ServerMessage made = make_dir("a/b/c");
    INFO(made.DebugString());
    REQUIRE(made.files().files_size() == 1);
    CHECK(made.files().files(0).path() == "a/b/c");
    CHECK(made.files().files(0).type() == "directory");
    CHECK(made.files().files(0).mode() == 0755);
    CHECK(fs::is_directory(workspace / "a/b/c"));
    check_error(make_dir("a/b/c"), v1::ERROR_CODE_ALREADY_EXISTS, "path");
    std::ofstream(workspace / "a/file.txt") << "hello";
    check_error(make_dir("a/file.txt"), v1::ERROR_CODE_INVALID_ARGUMENT, "path");
    check_error(make_dir("a/file.txt/under"), v1::ERROR_CODE_INVALID_ARGUMENT, "path");
    check_error(make_dir("../escape"), v1::ERROR_CODE_INVALID_ARGUMENT, "path");

    // stat: a file, the workspace itself (""), nothing there, a symlink (not followed).
    v1::ServerMessage file = stat("a/file.txt");
    REQUIRE(file.files().files_size() == 1);
    CHECK(file.files().files(0).type() == "file");
    CHECK(file.files().files(0).size() == 5);
    CHECK(file.files().files(0).mode() == 0644);
    CHECK(stat("").files().files(0).type() == "directory");
    check_error(stat("a/none"), v1::ERROR_CODE_NOT_FOUND, "path");
    fs::create_symlink("/etc", workspace / "link");
    v1::ServerMessage link = stat("link");
    REQUIRE(link.files().files_size() == 1);
    CHECK(link.files().files(0).type() == "symlink");
    CHECK(link.files().files(0).symlink_target() == "/etc");
    // Through the symlink: refused, never /etc's.
    check_error(stat("link/passwd"), v1::ERROR_CODE_INVALID_ARGUMENT, "path");
    check_error(make_dir("link/made"), v1::ERROR_CODE_INVALID_ARGUMENT, "path");
    check_error(move("a/file.txt", "link/moved"), v1::ERROR_CODE_INVALID_ARGUMENT, "destination");
    check_error(move("link/passwd", "stolen"), v1::ERROR_CODE_INVALID_ARGUMENT, "destination");
    CHECK(!fs::exists("/etc/made"));
    CHECK(!fs::exists(workspace / "stolen"));

    // move: a file into a new directory (made), a directory, nothing there, a directory into itself.
    v1::ServerMessage moved = move("a/file.txt", "x/y/file.txt");
    INFO(moved.DebugString());
    REQUIRE(moved.files().files_size() == 1);
    CHECK(moved.files().files(0).path() == "x/y/file.txt");
    CHECK(!fs::exists(workspace / "a/file.txt"));
    CHECK(fs::exists(workspace / "x/y/file.txt"));
    CHECK(move("a/b", "x/b").files().files(0).type() == "directory");
    check_error(move("a/none", "x/none"), v1::ERROR_CODE_NOT_FOUND, "path");
    check_error(move("x", "x/inside"), v1::ERROR_CODE_INVALID_ARGUMENT, "destination");
    check_error(move("x", ""), v1::ERROR_CODE_INVALID_ARGUMENT, "destination");

    // list below a path: one level, then all; a file is not a directory.
    const auto paths = [](const v1::ServerMessage& reply) {
        std::vector<std::string> out;
        for (const auto& entry : reply.files().files()) out.push_back(entry.path());
        return out;
    };
    CHECK(paths(list("x", 1)) == std::vector<std::string>{"x/b", "x/y"});
    CHECK(paths(list("x", 0)) == std::vector<std::string>{"x/b", "x/b/c", "x/y", "x/y/file.txt"});
    CHECK(paths(list("", 1)) == std::vector<std::string>{"a", "link", "x"});
    check_error(list("x/y/file.txt", 1), v1::ERROR_CODE_INVALID_ARGUMENT, "path");
    check_error(list("none", 1), v1::ERROR_CODE_NOT_FOUND, "path");
}

TEST_CASE("SessionStore stages a session and a request's files into a run's workspace", "[unit][sessions]") {
    Fixture f;
    const std::string id = f.create();
    std::shared_ptr<Session> session = f.store.find("uid:1", id);
    REQUIRE(session);
    std::ofstream(f.dir.path / "sessions" / id / "data" / "workspace" / "kept.txt") << "kept";
    TempDir run;
    const std::string root = run.path.string();
    REQUIRE(!f.store.stage_in(*session, root, ::getuid()));
    CHECK(SessionStore::run_workspace(root) == root + "/workspace");
    CHECK(SessionStore::run_tmp(root) == root + "/tmp");
    CHECK(fs::exists(run.path / "workspace" / "kept.txt"));
    CHECK(fs::is_directory(run.path / "tmp"));

    const std::vector<PlanFile> files{{"main.py", "print(1)\n", false}, {"bin/tool", "#!/bin/sh\n", true}};
    REQUIRE(f.store.stage_files(root, files, ::getuid()).message.empty());
    CHECK(fs::exists(run.path / "workspace" / "main.py"));
    CHECK((fs::status(run.path / "workspace" / "bin" / "tool").permissions() & fs::perms::owner_exec) !=
          fs::perms::none);
    f.store.drop_file(root, "main.py");
    CHECK(!fs::exists(run.path / "workspace" / "main.py"));

    const PlanError refused = f.store.stage_files(root, {{"../escape", "x", false}}, ::getuid());
    CHECK(refused.field == "files");
    CHECK(!fs::exists(run.path / "escape"));
}
