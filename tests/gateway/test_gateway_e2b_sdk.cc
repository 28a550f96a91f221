// The unmodified E2B SDK against jaild-gateway and a real jaild: the Node scripts of tests/e2b, run by Node
// (>= 20.18.1, the SDK's engines) with the SDK pinned by tests/e2b/package-lock.json, installed once into
// build/e2b-sdk with npm (its cache in build/npm-cache, so later installs need no network). SKIPPED, saying
// why, when Node is too old or the SDK cannot be installed.
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

// Whether /usr/bin/node is at least 20.18.1 (the SDK's engines field); the reason when not.
std::string node_too_old() {
    const Ran version = run({"/usr/bin/node", "-p", "process.versions.node"});
    if (!succeeded(version)) return "no usable /usr/bin/node: " + version.output;
    int major = 0, minor = 0, patch = 0;
    if (std::sscanf(version.output.c_str(), "%d.%d.%d", &major, &minor, &patch) != 3)
        return "cannot read node's version: " + version.output;
    const bool ok = major > 20 || (major == 20 && (minor > 18 || (minor == 18 && patch >= 1)));
    return ok ? "" : "node " + version.output + " is older than the SDK's 20.18.1";
}

// build/e2b-sdk with the pinned SDK; the reason when it cannot be installed.
std::string install_sdk(const fs::path& sdk) {
    if (fs::exists(sdk / "node_modules/e2b/package.json")) return "";
    fs::create_directories(sdk);
    fs::copy_file(source_path("tests/e2b/package.json"), sdk / "package.json", fs::copy_options::overwrite_existing);
    fs::copy_file(source_path("tests/e2b/package-lock.json"), sdk / "package-lock.json",
                  fs::copy_options::overwrite_existing);
    const Ran npm = run({"/usr/bin/npm", "ci", "--prefix", sdk.string(), "--cache",
                         (sdk.parent_path() / "npm-cache").string(), "--prefer-offline", "--no-audit", "--no-fund"});
    return succeeded(npm) ? "" : "npm ci of the pinned SDK failed: " + npm.output;
}

// Runs tests/e2b/`script` with the pinned SDK against a fresh jaild and gateway; it prints "ok" when every
// check passed, and its timings.
void run_script(const std::string& script) {
    if (const std::string why = node_too_old(); !why.empty()) return skip(why);
    const fs::path sdk = fs::path(JAILD_BIN_DIR).parent_path() / "e2b-sdk";
    if (const std::string why = install_sdk(sdk); !why.empty()) return skip(why);
    // ESM resolves imports from the script's own directory: the script runs beside node_modules.
    fs::copy_file(source_path("tests/e2b/" + script), sdk / script, fs::copy_options::overwrite_existing);

    TenantsFile keys;
    const std::string key = keys.create("acme");
    KeyedStack stack(keys);
    const std::string url = "http://127.0.0.1:" + std::to_string(stack.port());
    const Ran ran = run({"/usr/bin/node", (sdk / script).string()},
                        {"E2B_API_URL=" + url, "E2B_SANDBOX_URL=" + url, "E2B_API_KEY=" + key});
    INFO(ran.output);
    CHECK(succeeded(ran));
    CHECK(ran.output.find("ok\n") != std::string::npos);
    WARN(ran.output);  // the timings
}

}  // namespace

TEST_CASE("e2b sdk: commands through the unmodified SDK", "[gateway][e2b][sdk]") { run_script("commands.mjs"); }

TEST_CASE("e2b sdk: the code interpreter through the unmodified SDK", "[gateway][e2b][sdk]") {
    run_script("interpreter.mjs");
}
