// The playground (docs/playground.md): the static files the gateway serves at / and under /vendor/, and what
// they must never serve (a path out of the directory, a symlink out of it, a dot file, a directory listing);
// GET /limits; and the page itself in headless Chromium (tests/playground/playground_browser.py), with axe-core
// from npm pinned by tests/playground/package-lock.json.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"
#include "tests/support/skip.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

void write(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
}

// A www directory and a vendor directory laid out as Debian lays out libjs-codemirror (a top-level symlink
// into lib/), each with a symlink that leads out and a dot file.
struct Site {
    Site() {
        write(www() / "index.html", "<!doctype html><title>t</title>");
        write(www() / "app.js", "export {};");
        write(www() / "style.css", "body{}");
        write(www() / "sub/page.html", "<p>sub</p>");
        write(www() / ".hidden", "secret");
        write(dir.path() + "/outside.txt", "outside the root");
        fs::create_symlink(dir.path() + "/outside.txt", www() / "escape.txt");
        fs::create_symlink("../outside.txt", www() / "relative-escape.txt");
        fs::create_symlink("/etc", www() / "etc");
        fs::create_symlink("app.js", www() / "alias.js");
        write(vendor() / "lib/lib.js", "var Lib = 1;");
        fs::create_symlink("lib/lib.js", vendor() / "lib.js");
        fs::create_symlink("../../www/index.html", vendor() / "sideways.html");
    }
    fs::path www() const { return fs::path(dir.path()) / "www"; }
    fs::path vendor() const { return fs::path(dir.path()) / "vendor/lib"; }
    std::string config() const {
        const std::string path = dir.path() + "/gateway.toml";
        std::ofstream(path) << "[gateway]\nwww_dir = \"" << www().string() << "\"\nwww_vendor = { lib = \""
                            << vendor().string() << "\" }\n";
        return path;
    }
    TempDir dir;
};

// HEAD over a raw connection: the answer's header, and whatever followed it (nothing, for HEAD).
std::string head(int port, const std::string& target) {
    RawConnection raw(port);
    raw.send("HEAD " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    bool closed = false;
    return raw.receive_all(std::chrono::seconds(5), closed);
}

}  // namespace

TEST_CASE("gateway playground: static files, their types and validators, needing no key", "[gateway][playground]") {
    Site site;
    TenantsFile keys;
    const std::string key = keys.create("acme");
    KeyedStack stack(keys, "", {"--config", site.config()});
    const int port = stack.port();

    auto response = http_request(port, "GET", "/");
    CHECK(response.status == 200);
    CHECK(response.body == "<!doctype html><title>t</title>");
    CHECK(response.header("content-type") == "text/html; charset=utf-8");
    const std::string policy = response.header("content-security-policy");
    CHECK(policy.find("default-src 'self'") != std::string::npos);
    CHECK(policy.find("script-src 'self';") != std::string::npos);  // no inline script, no other host
    CHECK(policy.find("http") == std::string::npos);
    CHECK(response.header("x-content-type-options") == "nosniff");
    CHECK(response.header("cache-control") == "no-cache");
    CHECK(http_request(port, "GET", "/app.js").header("content-type") == "text/javascript; charset=utf-8");
    CHECK(http_request(port, "GET", "/style.css").header("content-type") == "text/css; charset=utf-8");
    CHECK(http_request(port, "GET", "/sub/page.html?x=1").body == "<p>sub</p>");
    CHECK(http_request(port, "GET", "/alias.js").body == "export {};");  // a symlink within the directory

    // ETag and Last-Modified; a matching If-None-Match is 304 without a body.
    const std::string etag = response.header("etag");
    REQUIRE(etag.size() > 2);
    CHECK(!response.header("last-modified").empty());
    auto again = http_request(port, "GET", "/", "", {{"If-None-Match", etag}});
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    CHECK(http_request(port, "GET", "/", "", {{"If-None-Match", "\"other\""}}).status == 200);

    // HEAD: the GET's headers and length, no body.
    const std::string answer = head(port, "/app.js");
    INFO(answer);
    CHECK(answer.starts_with("HTTP/1.1 200"));
    CHECK(answer.find("Content-Length: 10\r\n") != std::string::npos);
    CHECK(answer.ends_with("\r\n\r\n"));

    // The vendor mount: Debian's top-level symlink into lib/ is followed; one that leaves the mount is not.
    CHECK(http_request(port, "GET", "/vendor/lib/lib.js").body == "var Lib = 1;");
    CHECK(http_request(port, "GET", "/vendor/lib/lib/lib.js").status == 200);
    CHECK(http_request(port, "GET", "/vendor/lib/sideways.html", "", bearer(key)).status == 404);
    CHECK(http_request(port, "GET", "/vendor/lib/sideways.html").status == 401);

    // The API still needs the key; the static files do not, and the key changes nothing for them.
    CHECK(http_request(port, "GET", "/sessions").status == 401);
    CHECK(http_request(port, "GET", "/limits").status == 401);
    // Without a key only files that exist are answered: an unknown path looks like an API route.
    CHECK(http_request(port, "GET", "/no-such-file.js").status == 401);
    CHECK(http_request(port, "GET", "/escape.txt").status == 401);
    CHECK(http_request(port, "GET", "/no-such-file.js", "", bearer(key)).status == 404);
    CHECK(http_request(port, "GET", "/escape.txt", "", bearer(key)).status == 404);
    CHECK(http_request(port, "GET", "/", "", bearer(key)).status == 200);
    CHECK(http_request(port, "GET", "/sessions", "", bearer(key)).status == 200);
}

TEST_CASE("gateway playground: no path leaves the directory, no listing, GET and HEAD only", "[gateway][playground]") {
    Site site;
    GatewayProcess gateway("/nonexistent/jaild.sock", {"--config", site.config()});
    const int port = gateway.port();
    const char* refused[] = {
        "/../outside.txt",               // traversal as sent
        "/sub/../../outside.txt",        // traversal through a directory
        "/%2e%2e/outside.txt",           // encoded dots
        "/sub%2f..%2f..%2foutside.txt",  // encoded slashes
        "/sub%5c..%5coutside.txt",       // encoded backslashes
        "/index.html%00.js",             // NUL
        "/%252e%252e/outside.txt",       // double encoding
        "/escape.txt",                   // an absolute symlink out
        "/relative-escape.txt",          // a relative one
        "/etc/passwd",                   // a symlink to a directory out
        "/.hidden",                      // dot files
        "/sub/",                         // a directory without index.html: no listing
        "/sub",                          // a directory itself
        "/vendor/lib/../../www/index.html",
        "/nothing-here.js",
        "//etc/passwd",
    };
    for (const char* target : refused) {
        INFO(target);
        const auto response = http_request(port, "GET", target);
        CHECK(response.status == 404);
        CHECK(response.header("content-type") == "application/json");
        CHECK(response.body.find("outside the root") == std::string::npos);
        CHECK(response.body.find("root:x:0:0") == std::string::npos);
        CHECK(response.body.find("secret") == std::string::npos);
    }
    // Other methods on a file are not a static route: the API's 404 (with a key, or 401 when keys are on).
    CHECK(http_request(port, "POST", "/index.html", "x").status == 404);
    CHECK(http_request(port, "PUT", "/index.html", "x").status == 404);
    CHECK(http_request(port, "DELETE", "/index.html").status == 404);
    CHECK(http_request(port, "GET", "/index.html").status == 200);
    // API routes keep their own 405: a GET of /run is not a file.
    CHECK(http_request(port, "GET", "/run").status == 405);
    const std::string missing = head(port, "/nothing-here.js");
    CHECK(missing.starts_with("HTTP/1.1 404"));
    CHECK(missing.ends_with("\r\n\r\n"));  // no body after HEAD's header
}

TEST_CASE("gateway playground: an empty www_dir serves nothing", "[gateway][playground]") {
    TempDir dir;
    const std::string config = dir.path() + "/gateway.toml";
    std::ofstream(config) << "[gateway]\nwww_dir = \"\"\nwww_vendor = {}\n";
    GatewayProcess gateway("/nonexistent/jaild.sock", {"--config", config});
    CHECK(http_request(gateway.port(), "GET", "/").status == 404);
    CHECK(http_request(gateway.port(), "GET", "/vendor/codemirror/lib/codemirror.js").status == 404);
}

TEST_CASE("gateway playground: the Debian packages' CodeMirror and term.js under /vendor/", "[gateway][playground]") {
    if (!fs::exists("/usr/share/javascript/codemirror/lib/codemirror.js") ||
        !fs::exists("/usr/share/javascript/term.js/term.js"))
        return skip("libjs-codemirror or libjs-term.js is not installed (scripts/bootstrap installs them)");
    GatewayProcess gateway("/nonexistent/jaild.sock", {"--www-dir", source_path("www")});
    const int port = gateway.port();
    for (const char* file : {"/vendor/codemirror/lib/codemirror.js", "/vendor/codemirror/codemirror.js",
                             "/vendor/codemirror/mode/python/python.js", "/vendor/termjs/term.js"}) {
        INFO(file);
        const auto response = http_request(port, "GET", file);
        CHECK(response.status == 200);
        CHECK(response.header("content-type") == "text/javascript; charset=utf-8");
        CHECK(response.body.size() > 1000);
    }
    CHECK(http_request(port, "GET", "/vendor/codemirror/lib/codemirror.css").header("content-type") ==
          "text/css; charset=utf-8");
    CHECK(http_request(port, "GET", "/vendor/codemirror/").status == 404);  // no listing
    const auto page = http_request(port, "GET", "/");
    CHECK(page.status == 200);
    CHECK(page.body.find("data-testid=\"editor\"") != std::string::npos);
}

TEST_CASE("gateway playground: GET /limits, the caller's defaults and maxima", "[gateway][playground][limits]") {
    {
        Stack stack;
        const auto response = http_request(stack.port(), "GET", "/limits");
        REQUIRE(response.status == 200);
        const json::value body = response.json();
        CHECK(body.at("tenant").is_null());
        CHECK(body.at("defaults").at("cpu_ms") == 5000);  // jaild's [limits.default] in the tests' config
        CHECK(body.at("maxima").at("cpu_ms").as_int64() >= 5000);
        CHECK(body.at("script_defaults").at("wall_ms") == 30000);
        CHECK(body.at("quotas").at("runs_per_minute") == 6000);
        CHECK(body.at("quotas").at("sessions").is_null());
    }
    TenantsFile keys;
    const std::string key =
        keys.create("small", {"--max-cpu-ms", "1000", "--max-memory-kb", "65536", "--runs-per-minute", "30"});
    KeyedStack stack(keys);
    const auto response = http_request(stack.port(), "GET", "/limits", "", bearer(key));
    REQUIRE(response.status == 200);
    const json::value body = response.json();
    CHECK(body.at("tenant") == "small");
    CHECK(body.at("maxima").at("cpu_ms") == 1000);
    CHECK(body.at("defaults").at("cpu_ms") == 1000);  // the lower of the default and the tenant's maximum
    CHECK(body.at("maxima").at("memory_kb") == 65536);
    CHECK(body.at("script_defaults").at("cpu_ms") == 1000);
    CHECK(body.at("quotas").at("runs_per_minute") == 30);
    // What /limits says is what a run gets: the maximum is accepted, one more is refused.
    CHECK(post_json(stack.port(), "/run", R"({"command": ["/bin/true"], "time": 1000})", bearer(key)).status == 200);
    CHECK(post_json(stack.port(), "/run", R"({"command": ["/bin/true"], "time": 1001})", bearer(key)).status == 403);
}

TEST_CASE("gateway playground: the page in headless Chromium", "[gateway][playground][browser]") {
    const fs::path build = fs::path(JAILD_BIN_DIR).parent_path();
    const fs::path axe = build / "playground-npm/node_modules/axe-core/axe.min.js";
    if (!fs::exists(axe)) {
        fs::create_directories(axe.parent_path().parent_path().parent_path());
        for (const char* file : {"package.json", "package-lock.json"})
            fs::copy_file(source_path(std::string("tests/playground/") + file), build / "playground-npm" / file,
                          fs::copy_options::overwrite_existing);
        JailctlCall npm;  // the jailctl runner starts any program: here npm
        npm.program = "/usr/bin/npm";
        npm.args = {"ci",
                    "--prefix",
                    (build / "playground-npm").string(),
                    "--cache",
                    (build / "npm-cache").string(),
                    "--prefer-offline",
                    "--no-audit",
                    "--no-fund"};
        npm.timeout = std::chrono::minutes(5);
        const Jailctl ran = run_jailctl(npm);
        if (ran.exit_code != 0 || !fs::exists(axe)) return skip("npm ci of the pinned axe-core failed: " + ran.err);
    }
    TenantsFile keys;
    const std::string key = keys.create("acme");
    KeyedStack stack(keys, "", {"--www-dir", source_path("www")});
    const fs::path shots = build / "playground-screenshots";
    fs::create_directories(shots);
    JailctlCall call;  // the jailctl runner starts any program: here the browser's script
    call.program = "/usr/bin/python3";
    call.args = {source_path("tests/playground/playground_browser.py"),
                 "http://127.0.0.1:" + std::to_string(stack.port()), key, axe.string(), shots.string()};
    call.timeout = std::chrono::minutes(8);
    const Jailctl ran = run_jailctl(call);
    const std::string output = ran.out + ran.err;
    if (ran.exit_code == 77) return skip(output.substr(output.find("SKIPPED: ") + 9));
    INFO(output);
    CHECK(ran.exit_code == 0);
    CHECK(output.find("FAILED") == std::string::npos);
    CHECK(output.find("all passed") != std::string::npos);
    CHECK(fs::exists(shots / "playground.png"));
}
