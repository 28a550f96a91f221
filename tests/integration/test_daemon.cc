// jaild's own command line: configuration errors stop it with the key and line, --check probes the host.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/harness.h"
#include "tests/support/jailctl.h"
#include "tests/support/skip.h"

using namespace jaild::test;

namespace {

struct Output {
    int exit_code = -1;  // -1: ended by a signal
    std::string text;    // stdout and stderr together
};

Output run_jaild(const std::string& arguments) {
    JailctlCall call;  // the jailctl runner starts any program: here jaild itself
    call.program = bin("jaild");
    std::istringstream words(arguments);
    for (std::string word; words >> word;) call.args.push_back(word);
    const Jailctl ran = run_jailctl(call);
    REQUIRE_FALSE(ran.timed_out);
    Output out;
    out.exit_code = ran.exit_code;
    out.text = ran.out + ran.err;
    return out;
}

// A config for --check with the test's scratch run directory and uid range, plus `extra` [sandbox] lines.
std::string check_config(const TempDir& dir, const std::string& extra = "") {
    const std::string path = dir.path() + "/jaild.toml";
    std::ofstream(path) << "[sandbox]\nrun_dir = \"" << dir.path() << "/run\"\nuid_base = " << kUidBase
                        << "\nuid_count = " << kUidCount << "\n"
                        << extra;
    return path;
}

}  // namespace

TEST_CASE("jaild refuses an unknown config key naming the key and the line", "[root][daemon]") {
    TempDir dir;
    const std::string path = dir.path() + "/jaild.toml";
    std::ofstream(path) << "[server]\nmax_jobs = 4\nsockte = \"/tmp/x\"\n";
    const Output out = run_jaild("--config " + path);
    CHECK(out.exit_code == 78);
    CHECK_THAT(out.text, Catch::Contains("jaild.toml:3") && Catch::Contains("server.sockte"));
}

TEST_CASE("jaild refuses a default above its maximum", "[root][daemon]") {
    TempDir dir;
    const std::string path = dir.path() + "/jaild.toml";
    std::ofstream(path) << "[limits.default]\nwall_ms = 700000\n";
    const Output out = run_jaild("--config " + path);
    CHECK(out.exit_code == 78);
    CHECK_THAT(out.text, Catch::Contains("limits.default.wall_ms"));
}

TEST_CASE("jaild refuses a config file named on the command line that does not exist", "[root][daemon]") {
    const Output out = run_jaild("--config /nonexistent/jaild.toml");
    CHECK(out.exit_code == 78);
    CHECK_THAT(out.text, Catch::Contains("/nonexistent/jaild.toml"));
}

TEST_CASE("jaild --check runs the real sandbox and reports every step", "[root][daemon]") {
    TempDir dir;
    const std::string path = check_config(dir);
    const Output out = run_jaild("--check --config " + path);
    CHECK(out.exit_code == 0);
    for (const char* item : {"pid namespace", "mount namespace", "network namespace", "cgroups (v", "pivot_root",
                             "seccomp filter", "run a program in the sandbox"})
        CHECK_THAT(out.text, Catch::Contains(std::string("[ok  ] ") + item));
    CHECK_THAT(out.text, Catch::Contains("jaild can run sandboxes on this host."));
    // No [languages] in the config and no installed package: build/bin/jaild uses the checkout's languages/.
    if (!std::filesystem::exists("/etc/jaild/languages.d"))
        CHECK_THAT(out.text, Catch::Contains("[ok  ] languages: 7 of 7 enabled from " + source_path("languages")));
    else
        skip("/etc/jaild/languages.d exists (an installed package): the checkout's languages/ is not used");
    check_nothing_left(dir.path() + "/run");
}

TEST_CASE("no language enabled: a warning in the log and in --check, and /run still served", "[root][daemon]") {
    TempDir dir;
    std::filesystem::create_directories(dir.path() + "/no-languages");
    const std::string extra = "[languages]\ndir = \"" + dir.path() + "/no-languages\"\n";
    const Output out = run_jaild("--check --config " + check_config(dir, extra));
    CHECK(out.exit_code == 0);
    CHECK_THAT(out.text, Catch::Contains("[WARN] languages: 0 of 0 enabled from " + dir.path() + "/no-languages"));
    CHECK_THAT(out.text, Catch::Contains("fix: install the runtimes"));

    Daemon daemon(extra);
    CHECK_THAT(daemon.log(), Catch::Contains("no language enabled (0 defined in " + dir.path() + "/no-languages)"));
    const RunResult r = run(daemon.socket(), run_message({"echo", "still here"}));
    REQUIRE(r.has_exit);
    CHECK(r.out == "still here\n");
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("jaild --check exits 78 and says what failed when the sandbox cannot start", "[root][daemon]") {
    // A runtime directory that does not exist on this host makes `true` impossible to find: the probe must
    // say which step failed rather than claim the host is fine.
    TempDir dir;
    const std::string path = check_config(dir, "ro_binds = [\"/nonexistent\"]\n");
    const Output out = run_jaild("--check --config " + path);
    CHECK(out.exit_code == 78);
    CHECK_THAT(out.text, Catch::Contains("[FAIL] run a program in the sandbox"));
    CHECK_THAT(out.text, Catch::Contains("exec"));
    check_nothing_left(dir.path() + "/run");
}
