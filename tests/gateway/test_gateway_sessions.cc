// jaild-gateway's sessions against a real jaild: seed 003's session curl sequence and seed 002's /run example
// verbatim, files up and down, traversal in URLs, errors. Ownership and quota enforcement inside the sandbox
// are jaild's and are tested there (tests/integration).
#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

using namespace jaild::test;
namespace json = boost::json;

namespace {

std::string field_of(const HttpResponse& response) {
    const auto body = response.json();
    return body.at("field").is_null() ? std::string("null") : std::string(body.at("field").as_string());
}

std::string text(const json::value& value) { return std::string(value.as_string()); }

// POST /sessions; the new session's id.
std::string create_session(int port, const std::string& body = "{}") {
    const auto response = post_json(port, "/sessions", body);
    REQUIRE(response.status == 201);
    return text(response.json().at("session_id"));
}

HttpResponse run_in(int port, const std::string& id, const std::string& body) {
    return post_json(port, "/sessions/" + id + "/run", body);
}

std::vector<std::string> listed_paths(const HttpResponse& response) {
    std::vector<std::string> paths;
    const json::value files_json = response.json();
    for (const auto& file : files_json.at("files").as_array()) paths.push_back(text(file.at("path")));
    return paths;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

TEST_CASE("gateway sessions: seed 003's curl sequence", "[gateway]") {
    Stack stack;
    const int port = stack.port();
    // curl -X POST http://localhost:8080/sessions -H "Content-Type: application/json" -d '{"env": {"MY_VAR": "hello"}}'
    auto response = post_json(port, "/sessions", R"({"env": {"MY_VAR": "hello"}})");
    REQUIRE(response.status == 201);
    CHECK(response.header("content-type") == "application/json");
    const auto info = response.json().as_object();
    const std::string id = text(info.at("session_id"));
    CHECK(id.size() >= 32);
    CHECK(info.at("name").is_null());
    CHECK(info.at("env").at("MY_VAR") == "hello");
    for (const char* key : {"created_ms", "last_used_ms", "disk_used_bytes", "files_count", "quota_bytes"})
        CHECK(info.at(key).is_number());
    CHECK(info.at("cwd").is_string());
    CHECK(info.at("running") == false);

    // Write a file, read it back (file persists!).
    response = run_in(port, id, R"({"command": ["/bin/sh", "-c", "echo hello > /tmp/test.txt"]})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("status") == "ok");
    response = run_in(port, id, R"({"command": ["/bin/cat", "/tmp/test.txt"]})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("stdout") == "hello\n");
    response = run_in(port, id, R"({"command": ["/bin/sh", "-c", "echo $MY_VAR"]})");
    CHECK(response.json().at("stdout") == "hello\n");
    // A fresh sandbox outside the session does not see it.
    response = post_json(port, "/run", R"({"command": ["/bin/cat", "/tmp/test.txt"]})");
    CHECK(response.json().at("status") == "runtime_error");

    // curl -X POST http://localhost:8080/sessions/{id}/env ... -d '{"env": {"GH_TOKEN": "..."}}'
    response = post_json(port, "/sessions/" + id + "/env", R"({"env": {"GH_TOKEN": "..."}})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("env").at("GH_TOKEN") == "...");
    CHECK(response.json().at("env").at("MY_VAR") == "hello");  // merged
    response = run_in(port, id, R"({"command": ["/bin/sh", "-c", "echo $GH_TOKEN $MY_VAR"]})");
    CHECK(response.json().at("stdout") == "... hello\n");
    response = run_in(port, id, R"({"command": ["/bin/sh", "-c", "echo $MY_VAR"], "env": {"MY_VAR": "req"}})");
    CHECK(response.json().at("stdout") == "req\n");  // the request's env wins over the session's
    response = post_json(port, "/sessions/" + id + "/env", R"({"env": {"GH_TOKEN": null}})");
    REQUIRE(response.status == 200);
    CHECK_FALSE(response.json().at("env").as_object().contains("GH_TOKEN"));

    // curl -X POST http://localhost:8080/sessions/{id}/cwd ... -d '{"cwd": "/tmp"}'
    response = post_json(port, "/sessions/" + id + "/cwd", R"({"cwd": "/tmp"})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("cwd") == "/tmp");
    response = run_in(port, id, R"({"command": ["/bin/sh", "-c", "pwd; cat test.txt"]})");
    CHECK(response.json().at("stdout") == "/tmp\nhello\n");
    response = post_json(port, "/sessions/" + id + "/cwd", R"({"cwd": "relative/dir"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "cwd");

    // GET /sessions, GET /sessions/:id, DELETE /sessions/:id
    response = http_request(port, "GET", "/sessions");
    REQUIRE(response.status == 200);
    std::vector<std::string> ids;
    const json::value sessions_json = response.json();
    for (const auto& session : sessions_json.at("sessions").as_array()) ids.push_back(text(session.at("session_id")));
    CHECK(contains(ids, id));
    response = http_request(port, "GET", "/sessions/" + id);
    REQUIRE(response.status == 200);
    CHECK(response.json().at("session_id") == id.c_str());
    CHECK(response.json().at("cwd") == "/tmp");
    CHECK(response.json().at("last_used_ms").to_number<std::int64_t>() >=
          response.json().at("created_ms").to_number<std::int64_t>());
    response = http_request(port, "DELETE", "/sessions/" + id);
    REQUIRE(response.status == 200);
    CHECK(json::serialize(response.json()) == R"({"deleted":true,"session_id":")" + id + R"("})");

    response = http_request(port, "GET", "/sessions/" + id);
    CHECK(response.status == 404);
    CHECK(field_of(response) == "null");
    response = run_in(port, id, R"({"command": ["/bin/true"]})");
    CHECK(response.status == 404);
    CHECK(http_request(port, "DELETE", "/sessions/" + id).status == 404);
    CHECK(post_json(port, "/sessions/" + id + "/env", R"({"env": {}})").status == 404);
}

TEST_CASE("gateway sessions: create without a body, execute and stream in a session", "[gateway]") {
    Stack stack;
    const int port = stack.port();
    auto response = http_request(port, "GET", "/sessions");
    REQUIRE(response.status == 200);
    CHECK(json::serialize(response.json()) == R"({"sessions":[]})");
    response = http_request(port, "POST", "/sessions");
    REQUIRE(response.status == 201);
    const std::string id = text(response.json().at("session_id"));
    CHECK(response.json().at("env").as_object().empty());

    response = post_json(port, "/sessions/" + id + "/execute",
                         R"j({"language": "python", "code": "open('/workspace/kept.txt', 'w').write('py')"})j");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("status") == "ok");
    response = post_json(port, "/sessions/" + id + "/execute",
                         R"j({"language": "python", "code": "print(open('/workspace/kept.txt').read())"})j");
    CHECK(response.json().at("stdout") == "py\n");
    response = post_json(port, "/sessions/" + id + "/execute", R"({"script": "def main():\n    return 42"})");
    CHECK(response.json().at("result") == 42);

    auto streamed = post_stream(port, "/sessions/" + id + "/run",
                                R"({"command": ["/bin/cat", "/workspace/kept.txt"], "stream": true})");
    REQUIRE(streamed.status == 200);
    REQUIRE(streamed.lines.size() == 2);
    CHECK(streamed.lines[0].text == R"({"type":"stdout","data":"py"})");
    const auto last = json::parse(streamed.lines.back().text);
    CHECK(last.at("type") == "result");
    CHECK(last.at("stdout") == "py");

    // The same validation as /run and /execute.
    response = post_json(port, "/sessions/" + id + "/run", R"({"command": []})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "command");
    response = post_json(port, "/sessions/" + id + "/run", R"({"user_id": "u", "code": "result = 1"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "user_id");
    response = post_json(port, "/sessions/" + id + "/execute", R"j({"code": "print(1)"})j");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "language");
    response = http_request(port, "POST", "/sessions/" + id + "/run", R"({"command": ["ls"]})",
                            {{"Content-Type", "text/plain"}});
    CHECK(response.status == 415);
    response = http_request(port, "POST", "/sessions", R"({"env": {}})", {{"Content-Type", "text/plain"}});
    CHECK(response.status == 415);
    response = post_json(port, "/sessions", R"({"env": {"A": 1}})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "env.A");
    response = post_json(port, "/sessions/" + id + "/env", R"({"env": {"A": 1}})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "env.A");

    // Routes: unknown paths 404, known paths with another method 405 and Allow.
    response = http_request(port, "PUT", "/sessions");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "POST, GET");
    response = http_request(port, "POST", "/sessions/" + id);
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "GET, DELETE");
    response = http_request(port, "GET", "/sessions/" + id + "/run");
    CHECK(response.status == 405);
    CHECK(response.header("allow") == "POST");
    CHECK(http_request(port, "GET", "/sessions/" + id + "/nothing").status == 404);
    CHECK(http_request(port, "GET", "/sessions/").status == 404);
    CHECK(http_request(port, "GET", "/sessions/does-not-exist").status == 404);
}

TEST_CASE("gateway sessions: seed 002's /run example", "[gateway]") {
    Stack stack;
    const int port = stack.port();
    // curl -X POST http://127.0.0.1:5000/run -H "Content-Type: application/json"
    //      -d "{\"user_id\": \"anonymous\",\"code\": \"result = x + y\",\"data\": {\"x\": 1,\"y\": 2} }"
    auto response = post_json(port, "/run",
                              "{\"user_id\": \"anonymous\",\"code\": \"result = x + y\",\"data\": "
                              "{\"x\": 1,\"y\": 2} }");
    REQUIRE(response.status == 200);
    auto body = response.json().as_object();
    CHECK(body.at("result") == 3);
    CHECK(body.at("status") == "ok");
    CHECK(body.at("error").is_null());
    REQUIRE(body.at("workspace_files").is_array());
    // The README's payload, pretty-printed.
    response = post_json(port, "/run", R"({
    "user_id": "anonymous",
    "code": "result = x + y",
    "data": {
        "x": 1,
        "y": 2
    }
})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("result") == 3);

    // The user's state persists: a file written by one call is listed, and read by the next.
    response = post_json(
        port, "/run", R"j({"user_id": "anonymous", "code": "open('notes.txt', 'w').write('kept')\nresult = None"})j");
    REQUIRE(response.status == 200);
    std::vector<std::string> files;
    const json::value workspace_files_json = response.json();
    for (const auto& path : workspace_files_json.at("workspace_files").as_array()) files.push_back(text(path));
    CHECK(contains(files, "notes.txt"));
    response = post_json(port, "/run", R"j({"user_id": "anonymous", "code": "result = open('notes.txt').read()"})j");
    CHECK(response.json().at("result") == "kept");
    // Another user has a workspace of their own.
    response = post_json(port, "/run",
                         R"j({"user_id": "someone-else", "code": "import os\nresult = os.path.exists('notes.txt')"})j");
    CHECK(response.json().at("result") == false);
    // A user_id (and a session's name) is 1 to 128 printable ASCII characters, spaces included.
    response = post_json(port, "/run", R"j({"user_id": "Ada Lovelace", "code": "result = 1"})j");
    CHECK(response.status == 200);
    CHECK(response.json().at("result") == 1);
    response = post_json(port, "/sessions", R"j({"name": "my session"})j");
    CHECK(response.status == 201);
    CHECK(response.json().at("name") == "my session");
    for (const std::string& bad : {std::string(129, 'a'), std::string(""), std::string("tab\there")}) {
        response = post_json(port, "/sessions", json::serialize(json::object{{"name", bad}}));
        CHECK(response.status == 400);
        CHECK(field_of(response) == "name");
        CHECK(response.json().at("error") == "name must be 1 to 128 printable ASCII characters");
    }

    // One named session per user, listed with its name.
    response = http_request(port, "GET", "/sessions");
    int named = 0;
    const json::value sessions_json = response.json();
    for (const auto& session : sessions_json.at("sessions").as_array())
        if (session.at("name") == "anonymous") ++named;
    CHECK(named == 1);

    // An error in the code: a result with error, and still the workspace.
    response = post_json(port, "/run", R"({"user_id": "anonymous", "code": "result = 1 / 0"})");
    REQUIRE(response.status == 200);
    body = response.json().as_object();
    CHECK(body.at("status") == "runtime_error");
    CHECK(text(body.at("error")).find("ZeroDivisionError") != std::string::npos);
    CHECK(body.at("result").is_null());
    CHECK(body.at("workspace_files").is_array());

    // Streamed, the result line carries workspace_files too.
    auto streamed =
        post_stream(port, "/run", R"({"user_id": "anonymous", "code": "print('hi')\nresult = 5", "stream": true})");
    REQUIRE(streamed.status == 200);
    REQUIRE(!streamed.lines.empty());
    const auto last = json::parse(streamed.lines.back().text);
    CHECK(last.at("result") == 5);
    CHECK(last.at("workspace_files").is_array());

    struct Case {
        const char* body;
        const char* field;
    };
    const Case cases[] = {
        {R"({"user_id": "anonymous", "command": ["ls"], "code": "result = 1"})", "command"},
        {R"({"user_id": "", "code": "result = 1"})", "user_id"},
        {R"({"user_id": 5, "code": "result = 1"})", "user_id"},
        {R"({"user_id": "anonymous"})", "code"},
        {R"({"user_id": "anonymous", "code": "result = 1", "data": [1, 2]})", "data"},
        {R"({"user_id": "anonymous", "code": "result = 1", "data": {"not a name": 1}})", "data"},
    };
    for (const Case& c : cases) {
        INFO(c.body);
        response = post_json(port, "/run", c.body);
        CHECK(response.status == 400);
        if (response.status == 400) CHECK(field_of(response) == c.field);
    }
    response = post_json(port, "/run", "{\"user_id\": \"" + std::string(129, 'u') + "\", \"code\": \"result = 1\"}");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "user_id");
}

TEST_CASE("gateway sessions: files up, down, listed and deleted", "[gateway]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_session(port);
    const std::string files = "/sessions/" + id + "/files";

    auto response = http_request(port, "GET", files);
    INFO(response.body);
    REQUIRE(response.status == 200);
    CHECK(response.json().at("files").as_array().empty());

    // Upload: any content type, parents created; the answer names the path and size.
    response = http_request(port, "PUT", files + "/dir/sub/hello.txt", "hi there\n", {{"Content-Type", "text/plain"}});
    REQUIRE(response.status == 201);
    CHECK(json::serialize(response.json()) == R"({"path":"dir/sub/hello.txt","size":9})");
    const std::string binary("\x00\xff\x01\xc3(\n", 6);
    response = http_request(port, "PUT", files + "/bin.dat", binary, {{"Content-Type", "application/octet-stream"}});
    REQUIRE(response.status == 201);
    response = http_request(port, "PUT", files + "/with%20space.txt", "s");
    REQUIRE(response.status == 201);
    CHECK(response.json().at("path") == "with space.txt");
    response = http_request(port, "PUT", files + "/empty.txt", "");
    REQUIRE(response.status == 201);
    CHECK(response.json().at("size") == 0);

    // Download: the exact bytes.
    response = http_request(port, "GET", files + "/dir/sub/hello.txt");
    REQUIRE(response.status == 200);
    CHECK(response.header("content-type") == "application/octet-stream");
    CHECK(response.body == "hi there\n");
    response = http_request(port, "GET", files + "/bin.dat");
    CHECK(response.body == binary);
    CHECK(http_request(port, "GET", files + "/with space.txt").status != 200);  // not a valid request line
    CHECK(http_request(port, "GET", files + "/with%20space.txt").body == "s");
    CHECK(http_request(port, "GET", files + "/empty.txt").body.empty());

    // The sandbox sees the uploads in /workspace, and what it writes there can be downloaded.
    response = run_in(
        port, id,
        R"({"command": ["/bin/sh", "-c", "cat /workspace/dir/sub/hello.txt; echo made > /workspace/made.txt"]})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("stdout") == "hi there\n");
    CHECK(http_request(port, "GET", files + "/made.txt").body == "made\n");

    response = http_request(port, "GET", files);
    REQUIRE(response.status == 200);
    const auto paths = listed_paths(response);
    for (const char* path : {"dir", "dir/sub", "dir/sub/hello.txt", "bin.dat", "with space.txt", "made.txt"}) {
        INFO(path);
        CHECK(contains(paths, path));
    }
    const json::value files_json = response.json();
    for (const auto& file : files_json.at("files").as_array()) {
        INFO(json::serialize(file));
        CHECK(file.at("size").is_number());
        CHECK(file.at("mtime_ms").is_number());
        if (file.at("path") == "dir") CHECK(file.at("type") == "directory");
        if (file.at("path") == "dir/sub/hello.txt") {
            CHECK(file.at("type") == "file");
            CHECK(file.at("size") == 9);
        }
    }
    response = http_request(port, "GET", "/sessions/" + id);
    CHECK(response.json().at("files_count").to_number<std::int64_t>() >= 4);
    CHECK(response.json().at("disk_used_bytes").to_number<std::int64_t>() >= 9);

    // Overwrite, then delete a file and a whole directory.
    REQUIRE(http_request(port, "PUT", files + "/made.txt", "new").status == 201);
    CHECK(http_request(port, "GET", files + "/made.txt").body == "new");
    response = http_request(port, "DELETE", files + "/made.txt");
    REQUIRE(response.status == 200);
    CHECK(json::serialize(response.json()) == R"({"deleted":true,"path":"made.txt"})");
    CHECK(http_request(port, "GET", files + "/made.txt").status == 404);
    response = http_request(port, "DELETE", files + "/dir");
    REQUIRE(response.status == 200);
    CHECK(http_request(port, "GET", files + "/dir/sub/hello.txt").status == 404);
    CHECK_FALSE(contains(listed_paths(http_request(port, "GET", files)), "dir"));
    response = http_request(port, "DELETE", files + "/never-there");
    CHECK(response.status == 404);
    CHECK(field_of(response) == "null");

    // Bad requests the gateway answers itself, and unknown sessions.
    response = http_request(port, "GET", files + "/");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "path");
    response = http_request(port, "GET", files + "/bad%zzescape");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "path");
    response = http_request(port, "PUT", files + "/nul%00byte", "x");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "path");
    CHECK(http_request(port, "GET", "/sessions/not-a-session/files").status == 404);
    CHECK(http_request(port, "PUT", "/sessions/not-a-session/files/a.txt", "x").status == 404);
    CHECK(http_request(port, "GET", "/sessions/not-a-session/files/a.txt").status == 404);
}

TEST_CASE("gateway sessions: traversal in URLs is refused", "[gateway]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_session(port);
    const std::string files = "/sessions/" + id + "/files/";
    REQUIRE(http_request(port, "PUT", files + "inside.txt", "in").status == 201);

    // A canary on the host that an escaping upload would overwrite and an escaping delete would remove.
    TempDir host;
    const std::string canary = host.path() + "/canary";
    { std::ofstream(canary) << "canary"; }
    std::string up;  // from the workspace, deep as it may be, back to /
    for (int i = 0; i < 16; ++i) up += "../";
    const std::string rel = canary.substr(1);
    std::string encoded_up;
    for (int i = 0; i < 16; ++i) encoded_up += "%2e%2e%2f";
    // Links planted by sandboxed code must not be followed by a download, an upload or a delete.
    const std::string plant = R"({"command": ["/bin/sh", "-c", "ln -s )" + canary + " /workspace/link; ln -s " +
                              host.path() + R"( /workspace/linkdir; ln -s /etc /workspace/etc"]})";
    REQUIRE(run_in(port, id, plant).json().at("status") == "ok");

    const std::vector<std::string> escapes = {
        up + rel, encoded_up + rel, "a/../" + up + rel, "./" + up + rel,
        canary,   "%2F" + rel,      "linkdir/canary",   "../x",
        "..",     "%2e%2e",         "%2E%2E%2Fx",       "dir/..%2F..%2Fx",
        "link",
    };
    for (const std::string& path : escapes) {
        INFO(path);
        auto response = http_request(port, "GET", files + path);
        CHECK(response.status == 400);
        CHECK(response.body != "canary");
        if (response.status == 400) CHECK(field_of(response) == "path");
        response = http_request(port, "PUT", files + path, "escaped");
        if (path == "link") {
            // Replacing the planted link itself by a file is fine (the canary check below says it was not
            // followed), and so is removing it; following it is not.
            CHECK((response.status == 400 || response.status == 201));
            continue;
        }
        CHECK(response.status == 400);
        response = http_request(port, "DELETE", files + path);
        CHECK(response.status == 400);
    }
    for (const char* path : {"etc/passwd", "etc/shadow", "../../../../etc/passwd", "%2Fetc%2Fpasswd"}) {
        INFO(path);
        const auto response = http_request(port, "GET", files + path);
        CHECK(response.status == 400);
        CHECK(response.body.find("root:") == std::string::npos);
    }
    // Nothing above changed the host or the workspace.
    std::ifstream in(canary);
    std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(kept == "canary");
    CHECK(http_request(port, "GET", files + "inside.txt").body == "in");

    // A session id that is a path is just an unknown session.
    for (const char* bad_id : {"..", "%2e%2e", "..%2F..%2Ftmp", "%2Ftmp"}) {
        INFO(bad_id);
        const auto status = http_request(port, "GET", std::string("/sessions/") + bad_id + "/files").status;
        CHECK((status == 404 || status == 400));
    }
}

TEST_CASE("gateway sessions: session maximum and disk quota", "[gateway]") {
    TempDir state;
    Stack stack("[sessions]\nstate_dir = \"" + state.path() + "\"\nmax_per_principal = 2\nquota_kb = 64\n");
    const int port = stack.port();
    const std::string id = create_session(port);
    create_session(port);
    auto response = post_json(port, "/sessions", "{}");
    CHECK(response.status == 429);
    CHECK(response.header("retry-after") == "1");
    CHECK(std::string(response.json().at("error").as_string()).find("maximum") != std::string::npos);
    response = post_json(port, "/run", R"({"user_id": "third", "code": "result = 1"})");
    CHECK(response.status == 429);

    // An upload past the quota is refused with 507 and leaves nothing behind.
    response = http_request(port, "PUT", "/sessions/" + id + "/files/big.bin", std::string(100 * 1024, 'x'));
    CHECK(response.status == 507);
    CHECK(response.json().at("error").is_string());
    CHECK(http_request(port, "GET", "/sessions/" + id + "/files/big.bin").status == 404);
    response = http_request(port, "PUT", "/sessions/" + id + "/files/small.bin", std::string(1024, 'x'));
    CHECK(response.status == 201);
    response = http_request(port, "GET", "/sessions/" + id);
    CHECK(response.json().at("quota_bytes") == 64 * 1024);
    CHECK(http_request(port, "DELETE", "/sessions/" + id).status == 200);
    CHECK(post_json(port, "/sessions", "{}").status == 201);  // a slot is free again
}
