// jaild on restricted hosts: under Debian's gVisor (runsc, skipped where it is not installed) and under a
// seccomp filter that refuses clone3 the way gVisor and Docker's default profile do. `jaild --check` must
// name the host, find the namespaces such a host allows, and give advice that fits it.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/harness.h"
#include "tests/support/jailctl.h"
#include "tests/support/skip.h"

using namespace jaild::test;

namespace {

struct Output {
    int exit_code = -1;
    std::string text;  // stdout and stderr together
};

Output run(const std::string& program, std::vector<std::string> args) {
    JailctlCall call;  // the jailctl runner starts any program
    call.program = program;
    call.args = std::move(args);
    call.timeout = std::chrono::seconds(120);
    const Jailctl ran = run_jailctl(call);
    REQUIRE_FALSE(ran.timed_out);
    return {ran.exit_code, ran.out + ran.err};
}

std::string check_config(const TempDir& dir) {
    const std::string path = dir.path() + "/jaild.toml";
    std::ofstream(path) << "[sandbox]\nrun_dir = \"" << dir.path() << "/run\"\nuid_base = " << kUidBase
                        << "\nuid_count = " << kUidCount << "\n";
    return path;
}

std::string find_runsc() {
    for (const char* path : {"/usr/bin/runsc", "/usr/sbin/runsc", "/usr/local/bin/runsc"}) {
        if (::access(path, X_OK) == 0) return path;
    }
    return {};
}

constexpr const char* kNamespaceItems[] = {"pid namespace", "mount namespace", "network namespace",
                                           "ipc namespace", "uts namespace",   "cgroup namespace"};

}  // namespace

TEST_CASE("jaild --check under gVisor names it, finds its namespaces through clone and advises degraded mode",
          "[root][restricted]") {
    const std::string runsc = find_runsc();
    if (runsc.empty()) skip("runsc (Debian's gVisor) is not installed: scripts/bootstrap installs it");
    TempDir dir;
    const Output out = run(runsc, {"--network=none", "do", bin("jaild"), "--check", "--config", check_config(dir)});
    INFO(out.text);
    CHECK(out.exit_code == 78);
    CHECK_THAT(out.text,
               Catch::Contains("[ok  ] host: gVisor (runsc): dmesg: [") && Catch::Contains("] Starting gVisor"));
    for (const char* item : kNamespaceItems) CHECK_THAT(out.text, Catch::Contains(std::string("[ok  ] ") + item));
    CHECK_THAT(out.text, Catch::Contains("[WARN] clone3: Function not implemented"));
    // What this gVisor lacks, each measured: pidfds and the kill-process action have fallbacks everywhere.
    CHECK_THAT(out.text, Catch::Contains("[WARN] pidfd: Function not implemented: jaild polls"));
    CHECK_THAT(out.text, Catch::Contains("[WARN] seccomp kill-process action: Invalid argument: a call of a foreign "
                                         "architecture kills the calling thread instead"));
    // Its EINVAL on making mounts private is harmless there: no mount propagates.
    CHECK_THAT(out.text, Catch::Contains("[ok  ] private mounts in a new mount namespace: no mount propagates here"));
    CHECK_THAT(out.text, !Catch::Contains("cannot unshare a mount namespace"));
    // Its missing cgroups and read-only remounts need degraded mode, and the advice says so.
    CHECK_THAT(out.text, Catch::Contains("[FAIL] cgroups (none)"));
    CHECK_THAT(out.text, Catch::Contains("fix: gVisor (runsc) mounts no cgroup filesystem inside its sandbox"));
    CHECK_THAT(out.text, Catch::Contains("set `[sandbox] degraded = true` in jaild.toml, which uses what gVisor "
                                         "offers instead"));
    CHECK_THAT(out.text, !Catch::Contains("nesting"));
    CHECK_THAT(out.text, Catch::Contains("jaild cannot run sandboxes on this host"));
}

TEST_CASE("jaild --check under gVisor in degraded mode passes, naming what it does instead", "[root][restricted]") {
    const std::string runsc = find_runsc();
    if (runsc.empty()) skip("runsc (Debian's gVisor) is not installed: scripts/bootstrap installs it");
    TempDir dir;
    std::ofstream(check_config(dir), std::ios::app) << "degraded = true\n";
    const Output out =
        run(runsc, {"--network=none", "do", bin("jaild"), "--check", "--config", dir.path() + "/jaild.toml"});
    INFO(out.text);
    CHECK(out.exit_code == 0);
    CHECK_THAT(out.text, Catch::Contains("[WARN] cgroups (none)"));
    CHECK_THAT(out.text, Catch::Contains("[WARN] read-only mounts: Invalid argument"));
    CHECK_THAT(out.text, Catch::Contains("[ok  ] run a program in the sandbox"));
    CHECK_THAT(out.text, Catch::Contains("jaild can run sandboxes on this host."));
}

TEST_CASE("jaild --check where clone3 answers ENOSYS (Docker's default profile) clones with clone and passes",
          "[root][restricted]") {
    TempDir dir;
    const Output out =
        run(bin("seccomp_exec"), {"clone3-enosys", "--", bin("jaild"), "--check", "--config", check_config(dir)});
    INFO(out.text);
    CHECK(out.exit_code == 0);
    // This host's own kind, whatever it is (the test machines are VMs and containers), is named first.
    CHECK_THAT(out.text, Catch::Contains("\n\n  [ok  ] host: "));
    CHECK_THAT(out.text, !Catch::Contains("host: gVisor"));
    for (const char* item : kNamespaceItems) CHECK_THAT(out.text, Catch::Contains(std::string("[ok  ] ") + item));
    CHECK_THAT(out.text, Catch::Contains("[WARN] clone3: Function not implemented: jaild uses clone instead"));
    CHECK_THAT(out.text, Catch::Contains("[ok  ] run a program in the sandbox"));
    CHECK_THAT(out.text, Catch::Contains("jaild can run sandboxes on this host."));
}

TEST_CASE("jaild --check where namespaces are refused (as in Cloud Run) fails them with advice for the host",
          "[root][restricted]") {
    TempDir dir;
    const Output out =
        run(bin("seccomp_exec"), {"namespaces-eperm", "--", bin("jaild"), "--check", "--config", check_config(dir)});
    INFO(out.text);
    CHECK(out.exit_code == 78);
    for (const char* item : kNamespaceItems)
        CHECK_THAT(out.text, Catch::Contains(std::string("[FAIL] ") + item + ": Operation not permitted"));
    CHECK_THAT(out.text, Catch::Contains("jaild cannot run sandboxes on this host"));
}
