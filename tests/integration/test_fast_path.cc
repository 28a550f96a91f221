// The things jaild does to make a run cheap (bench/README.md), checked for what they must not change: the
// common root built once in jaild's own mount namespace, jaild-reaper as the sandbox's PID 1, and network
// namespaces prepared ahead.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "tests/support/harness.h"
#include "tests/support/skip.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Lines of a mountinfo table whose mount point is at or below `dir`.
std::vector<std::string> mounts_below(const std::string& table, const std::string& dir) {
    std::vector<std::string> found;
    std::istringstream lines(read_text(table));
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, point;
        fields >> id >> parent >> devno >> root >> point;
        if (point == dir || point.rfind(dir + "/", 0) == 0) found.push_back(line);
    }
    return found;
}

}  // namespace

TEST_CASE("the common root is built once, in jaild's namespace only, read-only, and goes with jaild",
          "[root][sandbox][template]") {
    Daemon daemon;
    const std::string root = daemon.run_dir() + "/root";
    // In jaild's namespace: the template's tmpfs (read-only) with /usr and the rest below it.
    const std::vector<std::string> in_jaild =
        mounts_below("/proc/" + std::to_string(daemon.pid()) + "/mountinfo", root);
    REQUIRE(!in_jaild.empty());
    CHECK(in_jaild.front().find(" " + root + " ro,") != std::string::npos);
    bool has_usr = false;
    for (const std::string& line : in_jaild) has_usr = has_usr || line.find(" " + root + "/usr ") != std::string::npos;
    CHECK(has_usr);
    // On the host: nothing.
    CHECK(mounts_below("/proc/self/mountinfo", daemon.run_dir()).empty());
    CHECK(fs::is_empty(root));

    // Runs see the same root as before, write only where they may, and do not change the template for the
    // next run (each run's /tmp, /workspace and /etc/passwd are its own).
    const RunResult first =
        run_sh(daemon.socket(),
               "id -u; grep -c sandbox:x:$(id -u): /etc/passwd; ls /usr/bin/env; "
               "for p in / /etc /usr /dev /proc/sys; do touch $p/x 2>/dev/null && echo wrote $p; done; "
               "echo mine > /tmp/left; echo mine > /workspace/left; echo ok");
    REQUIRE(first.has_exit);
    CHECK(first.exit.exit_code() == 0);
    CHECK(first.out == std::to_string(first.uid) + "\n1\n/usr/bin/env\nok\n");
    const RunResult second = run_sh(daemon.socket(), "ls -A /tmp /workspace; ls / | tr '\\n' ' '");
    REQUIRE(second.has_exit);
    CHECK(second.out.rfind("/tmp:\n\n/workspace:\n", 0) == 0);
    CHECK(second.out.find(" x ") == std::string::npos);
    CHECK(second.out.find(" usr ") != std::string::npos);

    // kill -9 of jaild: its namespace, and the template with it, is gone; nothing on the host.
    const pid_t pid = daemon.pid();
    daemon.kill9();
    CHECK(::kill(pid, 0) != 0);
    check_nothing_left(daemon.run_dir());
    CHECK(fs::is_empty(root));
}

TEST_CASE("a sandbox's PID 1 is jaild-reaper, not a copy of jaild, and reaps like one", "[root][sandbox][reaper]") {
    Daemon daemon;
    const RunResult r = run_sh(daemon.socket(),
                               "tr '\\0' ' ' < /proc/1/cmdline; echo; grep -E '^(Uid|Threads):' /proc/1/status | "
                               "tr -s '\\t ' ' '; (sleep 30 &) ; sh -c 'exit 7' ; echo $?");
    REQUIRE(r.has_exit);
    CHECK(r.exit.exit_code() == 0);
    // Its own uid, the pair's second, in every slot once the program runs.
    const std::string reaper = std::to_string(r.uid + 1);
    CHECK(r.out == "jaild-reaper \nUid: " + reaper + " " + reaper + " " + reaper + " " + reaper + "\nThreads: 1\n7\n");
    // The orphaned sleep was killed with the namespace when the program ended.
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("without jaild-reaper beside it, jaild still runs sandboxes (its clone reaps in place)",
          "[root][sandbox][reaper]") {
    TempDir dir;
    const std::string copy = dir.path() + "/jaild";
    fs::copy_file(bin("jaild"), copy);
    ::chmod(copy.c_str(), 0755);
    Daemon daemon(Daemon::Binary{copy}, "");
    CHECK(daemon.log().find("jaild-reaper not found") != std::string::npos);
    const RunResult r = run_sh(daemon.socket(), "tr '\\0' ' ' < /proc/1/cmdline; echo; (sleep 30 &); exit 3");
    REQUIRE(r.has_exit);
    CHECK(r.exit.exit_code() == 3);
    CHECK(r.out.find("jaild-reaper") == std::string::npos);
    CHECK(r.out.find("jaild") != std::string::npos);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("a sandbox that cannot exec jaild-reaper ends its run and never holds jaild", "[root][sandbox][reaper]") {
    // jaild clones each sandbox sharing its memory (CLONE_VM|CLONE_VFORK) and waits for the exec of
    // jaild-reaper; if that exec fails the child must end the run, not reap in place with jaild suspended.
#if defined(__SANITIZE_ADDRESS__)
    skip("a sanitized jaild keeps the fork-like clone (spawn.cc), whose child reaps in place");
    return;
#endif
    TempDir dir;
    for (const char* name : {"jaild", "jaild-reaper"}) {
        fs::copy_file(bin(name), dir.path() + "/" + name);
        ::chmod((dir.path() + "/" + name).c_str(), 0755);
    }
    // No warm sandboxes: one made while the reaper could still be exec'd would run the program below.
    Daemon daemon(Daemon::Binary{dir.path() + "/jaild"}, "warm_sandboxes = 0\n");
    REQUIRE(run_sh(daemon.socket(), "echo fine").out == "fine\n");
    // jaild holds the reaper by an O_PATH descriptor; without execute permission its exec fails (EACCES).
    ::chmod((dir.path() + "/jaild-reaper").c_str(), 0644);
    const auto started = std::chrono::steady_clock::now();
    const RunResult r = run_sh(daemon.socket(), "sleep 30");
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_INTERNAL_ERROR);
    CHECK(r.exit.error().find("exec of jaild-reaper") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < 10s);  // the program (sleep 30) died with the sandbox
    ::chmod((dir.path() + "/jaild-reaper").c_str(), 0755);
    CHECK(run_sh(daemon.socket(), "echo again").out == "again\n");
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("each run has a network namespace of its own, prepared ahead with only lo up", "[root][sandbox][netns]") {
    // jaild's NetnsPool makes the namespaces before the runs: six runs at once (more than it keeps ready,
    // so some clone their own) must each see a namespace that is neither the host's nor another's.
    Daemon daemon;
    const std::string host = fs::read_symlink("/proc/self/ns/net").string();
    std::vector<std::future<RunResult>> runs;
    for (int i = 0; i < 6; ++i) {
        // Alive together (the sleep), so the kernel cannot have given two of them the same inode number.
        runs.push_back(std::async(std::launch::async, [&] {
            return run_sh(daemon.socket(),
                          "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1; "
                          "cat /sys/class/net/lo/operstate 2>/dev/null; "
                          "python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', "
                          "0)); s.listen(); socket.create_connection(s.getsockname()); "
                          "print('lo works')\"; sleep 1");
        }));
    }
    std::set<std::string> seen;
    for (auto& run : runs) {
        const RunResult r = run.get();
        REQUIRE(r.has_exit);
        INFO(r.out << r.err);
        CHECK(r.exit.status() == v1::STATUS_OK);
        std::istringstream lines(r.out);
        std::string ns, interfaces, line;
        std::getline(lines, ns);
        while (std::getline(lines, line) && line != "lo works") interfaces += line + "\n";
        CHECK(ns.rfind("net:[", 0) == 0);
        CHECK(ns != host);
        CHECK(seen.insert(ns).second);
        CHECK(interfaces == "    lo\n");  // no other interface
        CHECK(line == "lo works");
    }
    CHECK(seen.size() == 6);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

namespace {

// jaild's descriptors that are mount namespaces.
int mount_namespaces_held(pid_t jaild) {
    int held = 0;
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(jaild) + "/fd")) {
        std::error_code ec;
        if (fs::read_symlink(entry.path(), ec).string().rfind("mnt:[", 0) == 0) ++held;
    }
    return held;
}

}  // namespace

TEST_CASE("jaild holds a run's mount namespace while it runs and lets go of it after the answer",
          "[root][sandbox][mount_ns]") {
    // The child passes its namespace over the report channel (SCM_RIGHTS) so that the teardown happens after
    // the answer, on a helper thread (Spawned::mount_ns); none may be kept once the runs are over.
    // No warm sandboxes: each waiting one holds its namespace too.
    Daemon daemon("warm_sandboxes = 0\n");
    REQUIRE(mount_namespaces_held(daemon.pid()) == 0);
    auto running = std::async(std::launch::async, [&] { return run_sh(daemon.socket(), "sleep 2; echo done"); });
    CHECK(wait_until([&] { return mount_namespaces_held(daemon.pid()) == 1; }, 5s));
    const RunResult r = running.get();
    CHECK(r.out == "done\n");
    for (int i = 0; i < 5; ++i) CHECK(run_sh(daemon.socket(), "true").exit.status() == v1::STATUS_OK);
    CHECK(wait_until([&] { return mount_namespaces_held(daemon.pid()) == 0; }, 5s));
    check_nothing_left(daemon.run_dir(), daemon.pid());
}
