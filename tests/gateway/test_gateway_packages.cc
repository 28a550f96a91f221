// Seed 000's `requirements` over real HTTP against a real jaild: wheels built here into a temporary
// wheelhouse (no index is reachable), installed in a sandbox, imported by the run, the environment reused,
// what Debian's Python already has installed for nothing, a missing wheel answered before the program runs,
// every refused line named, the progress lines of a stream, and the least recently used environment
// removed past the disk budget but never while a run uses it.
#include <sys/stat.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

using namespace jaild::test;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
namespace v1 = jaild::v1;

namespace {

// A pure-Python wheel assembled as the zip it is: the module, METADATA, WHEEL and RECORD.
constexpr const char* kWheelBuilder = R"py(
import base64, hashlib, sys, zipfile
directory, name, version, body = sys.argv[1:5]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": body,
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: jaild-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for path, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(text.encode())}")
files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
with zipfile.ZipFile(f"{directory}/{name}-{version}-py3-none-any.whl", "w") as wheel:
    for path, text in files.items():
        wheel.writestr(path, text)
)py";

void build_wheel(const std::string& dir, const std::string& name, const std::string& version, const std::string& body) {
    const std::string script = dir + "/build_wheel.py";
    std::ofstream(script) << kWheelBuilder;
    const std::string command =
        "/usr/bin/python3 " + script + " " + dir + " " + name + " " + version + " '" + body + "'";
    REQUIRE(std::system(command.c_str()) == 0);
    fs::remove(script);
}

// The scratch wheelhouse and environment directory of one test, and the config that names them.
struct Packages {
    TempDir dir;
    std::string wheelhouse = dir.path() + "/wheelhouse";
    std::string envs = dir.path() + "/envs";
    Packages() {
        fs::create_directory(wheelhouse);
        ::chmod(wheelhouse.c_str(), 0755);
        build_wheel(wheelhouse, "jaildtestpkg", "1.0", "VALUE = 42");
        build_wheel(wheelhouse, "jaildotherpkg", "2.0", "VALUE = 7");
    }
    std::string toml(std::uint64_t budget_kb = 1 << 20) const {
        return "[packages]\nwheelhouse = \"" + wheelhouse + "\"\nenvs_dir = \"" + envs +
               "\"\nbudget_kb = " + std::to_string(budget_kb) + "\n";
    }
    // Anything in envs_dir (a build in progress, a published or a removed environment).
    bool envs_empty() const {
        std::error_code ec;
        return fs::directory_iterator(envs, ec) == fs::directory_iterator();
    }
    // The published environments: name -> inode.
    std::map<std::string, ino_t> environments() const {
        std::map<std::string, ino_t> out;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(envs, ec)) {
            const std::string name = entry.path().filename().string();
            struct stat st {};
            if (std::regex_match(name, std::regex("[0-9a-f]{64}")) && ::stat(entry.path().c_str(), &st) == 0)
                out[name] = st.st_ino;
        }
        return out;
    }
};

std::string execute_body(const std::string& code, const std::string& requirements, const std::string& extra = "") {
    json::object body;
    body["language"] = "python";
    body["code"] = code;
    body["requirements"] = requirements;
    return json::serialize(body).insert(1, extra);
}

json::object ok(const HttpResponse& response) {
    INFO(response.body);
    REQUIRE(response.status == 200);
    return response.json().as_object();
}

}  // namespace

TEST_CASE("gateway packages: installed from the wheelhouse, imported, reused", "[gateway][packages]") {
    Packages packages;
    Stack stack(packages.toml());
    const int port = stack.port();
    const std::string code = "import jaildtestpkg; print(jaildtestpkg.VALUE, jaildtestpkg.__file__)";

    auto first = ok(post_json(port, "/execute", execute_body(code, "jaildtestpkg==1.0\n")));
    CHECK(first.at("status") == "ok");
    CHECK(std::string(first.at("stdout").as_string()).starts_with("42 /opt/jaild-packages/"));
    const auto built = packages.environments();
    REQUIRE(built.size() == 1);
    struct stat before {};
    REQUIRE(::stat((packages.envs + "/" + built.begin()->first).c_str(), &before) == 0);
    // Owned by root and read-only in the run: no run can change what the next one imports.
    CHECK(before.st_uid == 0);
    auto write =
        ok(post_json(port, "/execute",
                     execute_body("import jaildtestpkg, os; open(os.path.dirname(jaildtestpkg.__file__) + '/x', 'w')",
                                  "jaildtestpkg==1.0")));
    CHECK(write.at("status") == "runtime_error");
    CHECK_THAT(std::string(write.at("stderr").as_string()), Catch::Contains("Read-only file system"));

    // The same set written differently: the same environment, not built again.
    auto again = ok(post_json(port, "/execute", execute_body(code, "# again\nJaildTestPkg == 1.0  # pinned\n")));
    CHECK(std::string(again.at("stdout").as_string()).starts_with("42 "));
    CHECK(packages.environments() == built);
    struct stat after {};
    REQUIRE(::stat((packages.envs + "/" + built.begin()->first).c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);

    // The script dialect and a session's execute take requirements too.
    auto script = ok(post_json(
        port, "/execute",
        R"({"script": "def main():\n    import jaildtestpkg\n    return jaildtestpkg.VALUE", "requirements": "jaildtestpkg==1.0"})"));
    CHECK(script.at("result") == 42);
    auto session = http_request(port, "POST", "/sessions");
    REQUIRE(session.status == 201);
    const std::string id(session.json().at("session_id").as_string());
    auto in_session = ok(post_json(port, "/sessions/" + id + "/execute",
                                   execute_body("import jaildotherpkg; print(jaildotherpkg.VALUE)", "jaildotherpkg")));
    CHECK(in_session.at("stdout") == "7\n");
    CHECK(packages.environments().size() == 2);

    // Requests for a new set at the same time: one builds it, the others wait for it.
    const std::string both = "jaildtestpkg\njaildotherpkg==2.0\n";
    std::vector<std::future<HttpResponse>> together;
    for (int i = 0; i < 3; ++i)
        together.push_back(std::async(std::launch::async, [&] {
            return post_json(port, "/execute",
                             execute_body("import jaildtestpkg, jaildotherpkg as o; print(o.VALUE)", both));
        }));
    for (auto& answer : together) CHECK(ok(answer.get()).at("stdout") == "7\n");
    CHECK(packages.environments().size() == 3);
    const std::string log = stack.daemon.log();
    std::size_t builds = 0;
    for (auto at = log.find(" published ("); at != std::string::npos; at = log.find(" published (", at + 1)) ++builds;
    CHECK(builds == 3);  // each set built once
    check_nothing_left(stack.daemon.run_dir(), stack.daemon.pid());
}

TEST_CASE("gateway packages: what Debian's Python has costs nothing, a missing wheel never runs the program",
          "[gateway][packages]") {
    Packages packages;
    Stack stack(packages.toml());
    const int port = stack.port();
    const std::string probe = "import numpy, sys; print(numpy.__file__)";
    auto numpy = ok(post_json(port, "/execute", execute_body(probe, "numpy>=1.0\npandas\n")));
    CHECK(numpy.at("status") == "ok");
    CHECK(std::string(numpy.at("stdout").as_string()).starts_with("/usr/lib/python3/dist-packages/numpy"));
    CHECK(packages.environments().empty());
    // Without an environment its mount point is an empty directory of the read-only root.
    auto empty = ok(post_json(port, "/execute",
                              execute_body("import os; print(os.listdir('/opt/jaild-packages')); "
                                           "open('/opt/jaild-packages/x', 'w')",
                                           "numpy")));
    CHECK(empty.at("stdout") == "[]\n");
    CHECK_THAT(std::string(empty.at("stderr").as_string()), Catch::Contains("Read-only file system"));
    // Seed 000's progress lines come first in a stream.
    auto streamed = post_stream(port, "/execute", execute_body("print('hi')", "numpy", "\"stream\":true,"));
    REQUIRE(streamed.status == 200);
    REQUIRE(streamed.lines.size() >= 3);
    CHECK(streamed.lines[0].text == R"({"type":"progress","status":"progress","message":"Installing packages..."})");
    CHECK(streamed.lines[1].text == R"({"type":"progress","status":"progress","message":"Executing code..."})");
    CHECK(json::parse(streamed.lines.back().text).at("stdout") == "hi\n");
    // Without requirements only the second.
    streamed = post_stream(port, "/execute", execute_body("print('hi')", "", "\"stream\":true,"));
    REQUIRE(streamed.lines.size() >= 2);
    CHECK(streamed.lines[0].text == R"({"type":"progress","status":"progress","message":"Executing code..."})");

    // A requirement the wheelhouse cannot satisfy: 400 naming it and the operator's way to add it.
    const std::string code = "print('the program ran')";
    auto missing = post_json(port, "/execute", execute_body(code, "jaildtestpkg\nnot-in-the-wheelhouse==3.1\n"));
    INFO(missing.body);
    CHECK(missing.status == 400);
    CHECK(missing.json().at("field") == "requirements");
    const std::string error(missing.json().at("error").as_string());
    CHECK_THAT(error, Catch::Contains("\"not-in-the-wheelhouse==3.1\" (requirements line 2)"));
    CHECK_THAT(error, Catch::Contains("pip download --only-binary :all: -d"));
    CHECK_THAT(error, Catch::Contains(packages.wheelhouse));
    CHECK(missing.body.find("the program ran") == std::string::npos);
    CHECK(packages.environments().empty());                        // nothing half-built is kept
    CHECK(wait_until([&] { return packages.envs_empty(); }, 5s));  // removed off jaild's loop
    streamed = post_stream(port, "/execute", execute_body(code, "not-in-the-wheelhouse", "\"stream\":true,"));
    REQUIRE(streamed.status == 200);
    REQUIRE(streamed.lines.size() == 2);
    CHECK(streamed.lines[0].text == R"({"type":"progress","status":"progress","message":"Installing packages..."})");
    const auto last = json::parse(streamed.lines.back().text);
    CHECK(last.at("type") == "result");
    CHECK_THAT(std::string(last.at("error").as_string()), Catch::Contains("\"not-in-the-wheelhouse\""));
    CHECK(last.at("stdout") == "");
    check_nothing_left(stack.daemon.run_dir(), stack.daemon.pid());
}

TEST_CASE("gateway packages: options, URLs, paths and oversized requirements are refused with the line",
          "[gateway][packages]") {
    Packages packages;
    Stack stack(packages.toml());
    const int port = stack.port();
    const std::pair<std::string, std::string> cases[] = {
        {"https://example.com/x-1.0-py3-none-any.whl", "URLs are not accepted"},
        {"x @ https://example.com/x.whl", "URLs are not accepted"},
        {"./x", "paths and archives"},
        {"/tmp/x-1.0-py3-none-any.whl", "paths and archives"},
        {"-e .", "editable installs (-e)"},
        {"-r other.txt", "other requirement files (-r)"},
        {"--index-url https://pypi.org/simple", "package indexes and links (--index-url)"},
        {"--pre", "options (--pre)"},
        {"numpy --hash=sha256:00", "options (--hash)"},
    };
    for (const auto& [line, reason] : cases) {
        INFO(line);
        auto response = post_json(port, "/execute", execute_body("print(1)", "numpy\n" + line + "\n"));
        CHECK(response.status == 400);
        CHECK(response.json().at("field") == "requirements");
        const std::string error(response.json().at("error").as_string());
        CHECK_THAT(error, Catch::StartsWith("requirements line 2 (\""));
        CHECK_THAT(error, Catch::Contains(reason));
    }
    std::string lines;
    for (int i = 0; i < 201; ++i) lines += "pkg" + std::to_string(i) + "\n";
    auto response = post_json(port, "/execute", execute_body("print(1)", lines));
    CHECK(response.status == 400);
    CHECK_THAT(std::string(response.json().at("error").as_string()), Catch::Contains("201 lines"));
    response = post_json(port, "/execute", execute_body("print(1)", std::string(64 * 1024 + 1, '#')));
    CHECK(response.status == 400);
    CHECK_THAT(std::string(response.json().at("error").as_string()), Catch::Contains("65537 bytes"));
    response = post_json(port, "/execute", R"({"language": "python", "code": "1", "requirements": ["numpy"]})");
    CHECK(response.status == 400);
    CHECK(response.json().at("field") == "requirements");
    response = post_json(port, "/execute", R"({"language": "bash", "code": "true", "requirements": "numpy"})");
    CHECK(response.status == 400);
    CHECK(response.json().at("error") == "requirements are for python only");

    // jaild checks them again: it trusts no client, not even the gateway.
    v1::ClientMessage message;
    message.mutable_execute()->set_language("python");
    message.mutable_execute()->set_code("print(1)");
    message.mutable_execute()->set_requirements("numpy\n--index-url https://evil.example/simple\n");
    RunResult result = run(stack.daemon.socket(), message);
    REQUIRE(result.has_error);
    CHECK(result.error.code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK(result.error.field() == "requirements");
    CHECK_THAT(result.error.message(), Catch::StartsWith("requirements line 2 (\"--index-url"));
    CHECK(packages.environments().empty());
}

TEST_CASE("gateway packages: past the budget the least recently used environment goes, never one in use",
          "[gateway][packages]") {
    Packages packages;
    Stack stack(packages.toml(1));  // 1 KiB: every environment is over it
    const int port = stack.port();
    auto first = ok(post_json(port, "/execute", execute_body("import jaildtestpkg", "jaildtestpkg")));
    CHECK(first.at("status") == "ok");
    const auto only_first = packages.environments();
    REQUIRE(only_first.size() == 1);

    // A run holds the first environment while the second is built: it stays until that run ends.
    auto slow = std::async(std::launch::async, [&] {
        return post_json(
            port, "/execute",
            execute_body("import time; time.sleep(3); import jaildtestpkg; print(jaildtestpkg.VALUE)", "jaildtestpkg"));
    });
    std::this_thread::sleep_for(1s);
    auto second = ok(post_json(port, "/execute", execute_body("import jaildotherpkg", "jaildotherpkg")));
    CHECK(second.at("status") == "ok");
    CHECK(packages.environments().size() == 2);
    const auto held = ok(slow.get());
    CHECK(held.at("stdout") == "42\n");

    // Now idle, the least recently used goes when the next environment is published.
    auto third = ok(post_json(port, "/execute", execute_body("import jaildtestpkg", "jaildtestpkg==1.0")));
    CHECK(third.at("status") == "ok");
    const auto now = packages.environments();
    CHECK(now.size() == 1);
    CHECK(now.count(only_first.begin()->first) == 0);
    check_nothing_left(stack.daemon.run_dir(), stack.daemon.pid());
}

TEST_CASE("gateway packages: an install cut short leaves nothing behind", "[gateway][packages]") {
    Packages packages;
    SECTION("by its time limit") {
        Stack stack(packages.toml() + "install_wall_ms = 300\n");
        auto response = post_json(stack.port(), "/execute", execute_body("print('ran')", "jaildtestpkg"));
        INFO(response.body);
        CHECK(response.status == 502);
        CHECK_THAT(std::string(response.json().at("error").as_string()),
                   Catch::StartsWith("installing the requirements failed: "));
        CHECK(wait_until([&] { return packages.envs_empty(); }, 5s));
        check_nothing_left(stack.daemon.run_dir(), stack.daemon.pid());
    }
    SECTION("by its client leaving") {
        Daemon daemon(packages.toml());
        v1::ClientMessage message;
        message.mutable_execute()->set_language("python");
        message.mutable_execute()->set_code("print('ran')");
        message.mutable_execute()->set_requirements("jaildtestpkg");
        Connection connection(daemon.socket());
        connection.send(message);
        v1::ServerMessage first;
        REQUIRE(connection.receive(first));
        CHECK(first.progress().message() == "Installing packages...");
        // Past the inventory, into pip (which takes a second or more), then gone.
        REQUIRE(wait_until([&] { return !packages.envs_empty(); }, 10s));
        connection.close();
        CHECK(wait_until([&] { return packages.envs_empty(); }, 10s));
        CHECK(packages.environments().empty());
        check_nothing_left(daemon.run_dir(), daemon.pid());
        CHECK_THAT(daemon.log(), Catch::Contains("client left"));
    }
}
