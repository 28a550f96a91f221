// jaild inside Debian's gVisor (runsc do), in degraded mode ([sandbox] degraded = true, docs/security.md
// "Degraded mode"): gVisor has no cgroups, pidfds, read-only remounts, pivot_root or kill-process seccomp action,
// and jaild uses what it offers instead. A driver script runs inside the same gVisor sandbox as jaild (a socket
// jaild makes there is not the host's): it starts jaild, runs each case with jailctl and prints what it saw
// between markers; the test reads that. Skipped where runsc is not installed.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/harness.h"
#include "tests/support/jailctl.h"
#include "tests/support/skip.h"

using namespace jaild::test;

namespace {

std::string find_runsc() {
    for (const char* path : {"/usr/bin/runsc", "/usr/sbin/runsc", "/usr/local/bin/runsc"}) {
        if (::access(path, X_OK) == 0) return path;
    }
    return {};
}

// The driver: every case's output and exit status under "== name", one after another. `wrapper`: what jaild
// runs under (seccomp_exec's filter that refuses namespaces, as Cloud Run does), or nothing.
std::string driver_script(const TempDir& dir, const std::string& wrapper) {
    const std::string d = dir.path();
    std::ostringstream s;
    s << "B=" << bin("") << "\nD=" << d << "\n"
      << wrapper << " $B/jaild --config $D/jaild.toml > $D/jaild.log 2>&1 &\nJ=$!\n"
      << "for i in $(seq 150); do [ -S $D/jaild.sock ] && break; sleep 0.1; done\n"
      << "export JAILD_SOCKET=$D/jaild.sock\n"
      << "step() { echo \"== $1\"; shift; \"$@\" 2>&1; echo \"rc=$?\"; }\n"
      << "step hello $B/jailctl run -- /usr/bin/python3 -c 'import os; print(\"hello\", os.getuid() > 0)'\n"
      << "step numpy $B/jailctl execute -l python --main --code 'import numpy as np\n"
         "def main():\n    return int(np.arange(10).sum())'\n"
      << "step cpu $B/jailctl run --time 1000 --wall 20000 -- /usr/bin/python3 -c 'while True: pass'\n"
      << "step wall $B/jailctl run --wall 1500 -- /bin/sh -c "
         "'for i in 1 2 3; do (setsid sleep 300 &); sleep 300 & done; echo started; wait'\n"
      << "step memory $B/jailctl run --mem 262144 -- /usr/bin/python3 -c "
         "'small = bytearray(64 << 20)\ntry:\n    big = bytearray(400 << 20)\n    print(\"BIG allocated\")\n"
         "except MemoryError:\n    print(\"BIG refused\")'\n"
      << "step fsize $B/jailctl run --fsize 1024 -- /usr/bin/python3 -c "
         "'import errno, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\ntry:\n"
         "    open(\"/tmp/big\", \"wb\").write(b\"x\" * (4 << 20))\n    print(\"WROTE\")\n"
         "except OSError as e:\n    print(\"REFUSED\", errno.errorcode[e.errno])'\n"
      << "$B/jailctl run -- /bin/sh -c 'echo GVISOR-SECRET-4711 > /workspace/secret; sleep 3; cat /workspace/secret'"
         " > $D/victim.out 2>&1 &\nV=$!\nsleep 1\n"
      << "step attack $B/jailctl run -- /usr/bin/python3 -c '\nimport glob\nfound = []\n"
         "for pattern in [\"/proc/*/root/workspace/secret\", \"/proc/*/cwd/secret\", \"/workspace/secret\", "
         "\"/run/**/secret\", \"/tmp/**/secret\"]:\n"
         "    for path in glob.glob(pattern, recursive=True):\n        try:\n"
         "            found.append(open(path).read())\n        except OSError:\n            pass\n"
         "print(\"FOUND\", found)\ntry:\n    print(\"SHADOW\", open(\"/etc/shadow\").read()[:20])\n"
         "except OSError as e:\n    print(\"SHADOW refused\")'\n"
      << "wait $V\necho '== victim'\ncat $D/victim.out\n"
      << "sleep 0.5\necho '== left'\n"
      << "ps -eo uid=,args= | awk -v lo=" << kUidBase << " -v hi=" << kUidBase + kUidCount
      << " '$1 >= lo && $1 < hi'\necho rc=0\n"
      << "kill $J\nwait $J\necho '== stopped'\necho rc=$?\n"
      << "echo '== log'\ncat $D/jaild.log\n";
    return s.str();
}

// The driver's output split at its markers.
std::map<std::string, std::string> sections(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream lines(text);
    std::string line, name;
    while (std::getline(lines, line)) {
        if (line.rfind("== ", 0) == 0) {
            name = line.substr(3);
            continue;
        }
        if (!name.empty()) out[name] += line + "\n";
    }
    return out;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs the driver in `runsc do` with jaild configured by `sandbox_extra` and started under `wrapper`, and checks
// every case.
void check_under_gvisor(const std::string& sandbox_extra, const std::string& wrapper, const std::string& log_line) {
    const std::string runsc = find_runsc();
    if (runsc.empty()) skip("runsc (Debian's gVisor) is not installed: scripts/bootstrap installs it");
    TempDir dir;
    std::ofstream(dir.path() + "/jaild.toml")
        << "[server]\nsocket = \"" << dir.path() << "/jaild.sock\"\n[sandbox]\nrun_dir = \"" << dir.path()
        << "/run\"\nuid_base = " << kUidBase << "\nuid_count = " << kUidCount << "\ndegraded = true\n"
        << sandbox_extra;
    std::ofstream(dir.path() + "/driver.sh") << driver_script(dir, wrapper);
    JailctlCall call;
    call.program = runsc;
    call.args = {"--network=none", "do", "/bin/sh", dir.path() + "/driver.sh"};
    call.timeout = std::chrono::seconds(240);
    const Jailctl ran = run_jailctl(call);
    INFO(ran.out << ran.err);
    REQUIRE_FALSE(ran.timed_out);
    auto s = sections(ran.out);

    CHECK(s["hello"] == "hello True\nrc=0\n");
    CHECK(s["numpy"] == "45\nrc=0\n");
    CHECK(has(s["cpu"], "CPU time limit of 1000 ms exceeded"));
    CHECK(has(s["wall"], "started\n"));
    CHECK(has(s["wall"], "wall-clock time limit of 1500 ms exceeded"));
    CHECK(s["memory"] == "BIG refused\nrc=0\n");
    CHECK(s["fsize"] == "REFUSED EFBIG\nrc=0\n");
    CHECK(has(s["attack"], "FOUND []\n"));
    CHECK(has(s["attack"], "SHADOW refused\n"));
    CHECK_FALSE(has(s["attack"], "GVISOR-SECRET"));
    CHECK(s["victim"] == "GVISOR-SECRET-4711\n");
    // No process of the sandbox uids after the runs (the wall case's setsid children included).
    CHECK(s["left"] == "rc=0\n");
    CHECK(s["stopped"] == "rc=0\n");
    CHECK(has(s["log"], "degraded mode ([sandbox] degraded = true): no usable cgroups"));
    CHECK(has(s["log"], log_line));
}

}  // namespace

TEST_CASE("gVisor, degraded mode: runs work, every limit holds, runs stay apart and nothing is left",
          "[root][restricted][gvisor]") {
    check_under_gvisor("", "", "listening on");
}

TEST_CASE("gVisor refusing namespaces (as Cloud Run): chroot and degraded mode hold every limit and separation",
          "[root][restricted][gvisor]") {
    check_under_gvisor("isolation = \"chroot\"\n", bin("seccomp_exec") + " namespaces-eperm --",
                       "chroot mode ([sandbox] isolation = \"chroot\")");
}
