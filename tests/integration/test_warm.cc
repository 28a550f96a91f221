// Warm sandboxes (jaild/sandbox/warm_pool.h): runs that fit start in a sandbox prepared ahead, and get exactly
// what a cold run gets — their own argv, environment, directory, limits and uid — while runs that do not fit still
// start cold, and no warm sandbox outlives its daemon.
#include <sys/types.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/harness.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

// Warm sandboxes a daemon's log says its runs started in.
std::size_t warm_starts(const Daemon& daemon) {
    const std::string log = daemon.log();
    std::size_t count = 0;
    for (std::size_t at = log.find("(warm sandbox "); at != std::string::npos; at = log.find("(warm sandbox ", at + 1))
        ++count;
    return count;
}

std::size_t warm_cgroups() { return all_job_cgroups().size() - job_cgroups().size(); }

// Warm sandboxes ready to be taken: their reaper waits, its command line still the one jaild gave it (a
// cgroup alone may be one still being built, or a finished run's not yet removed).
std::size_t ready_sandboxes() {
    std::size_t count = 0;
    for (const pid_t pid : pool_processes()) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
        std::stringstream text;
        text << in.rdbuf();
        if (text.str() == std::string("jaild-reaper\0warm\0", 18)) ++count;
    }
    return count;
}

// The daemon has its warm sandboxes ready (it makes them once runs have left the cores alone).
void wait_warm(std::size_t count) {
    REQUIRE(wait_until([count] { return ready_sandboxes() >= count; }, 10s));
}

}  // namespace

TEST_CASE("a run without files starts in a warm sandbox with its own argv, environment, directory and limits",
          "[root][warm]") {
    Daemon daemon;
    wait_warm(2);
    v1::ClientMessage request = shell(
        "echo \"[$1] [$GREETING]\"; pwd; ulimit -n; ulimit -f; ulimit -p; ulimit -t; "
        "tr '\\0' ' ' </proc/1/cmdline; echo; id -u",
        limits(0, 3000));
    v1::RunRequest& run_request = *request.mutable_run();
    run_request.add_argv("sh");
    run_request.add_argv("two words");
    (*run_request.mutable_env())["GREETING"] = "hello there";
    run_request.set_cwd("/tmp");
    run_request.mutable_limits()->set_nofile(17);
    run_request.mutable_limits()->set_fsize_kb(100);
    run_request.mutable_limits()->set_nproc(9);
    const RunResult r = run(daemon.socket(), request);
    REQUIRE(r.has_exit);
    CHECK(r.exit.status() == v1::STATUS_OK);
    INFO(r.err);
    CHECK(r.out == "[two words] [hello there]\n/tmp\n17\n200\n9\n3\njaild-reaper \n" + std::to_string(r.uid) + "\n");
    CHECK(r.uid >= kUidBase);
    CHECK(warm_starts(daemon) == 1);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("warm runs are held to their memory, process, CPU and wall-clock limits", "[root][warm][limits]") {
    Daemon daemon;
    wait_warm(2);
    const RunResult oom =
        run(daemon.socket(), run_message({"python3", "-c", "x = bytearray(300 << 20)"}, limits(0, 0, 48 * 1024)));
    CHECK(oom.exit.status() == v1::STATUS_MEMORY_LIMIT);
    CHECK(oom.exit.memory_kb() <= 48 * 1024 + 64);
    wait_warm(2);
    v1::Limits few;
    few.set_nproc(4);
    const RunResult forks =
        run_sh(daemon.socket(), "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo done", few);
    CHECK_THAT(forks.err, Catch::Contains("fork") || Catch::Contains("Resource temporarily unavailable"));
    wait_warm(2);
    const RunResult busy = run_sh(daemon.socket(), "while :; do :; done", limits(0, 500));
    CHECK(busy.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(busy.exit.timeout_kind() == "cpu");
    wait_warm(2);
    const RunResult sleeper = run(daemon.socket(), run_message({"sleep", "30"}, limits(300)));
    CHECK(sleeper.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(sleeper.exit.timeout_kind() == "wall");
    CHECK(warm_starts(daemon) == 4);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("a warm start that cannot begin names why, as a cold one does", "[root][warm]") {
    Daemon daemon;
    wait_warm(2);
    v1::ClientMessage bad_cwd = run_message({"true"});
    bad_cwd.mutable_run()->set_cwd("/no/such/dir");
    const RunResult cwd = run(daemon.socket(), bad_cwd);
    CHECK(cwd.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK_THAT(cwd.exit.error(), Catch::Contains("cannot change directory to \"/no/such/dir\""));
    const RunResult missing = run(daemon.socket(), run_message({"no-such-program"}));
    CHECK(missing.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(missing.exit.exit_code() == 127);
    CHECK_THAT(missing.exit.error(), Catch::Contains("cannot execute \"no-such-program\""));
    CHECK(warm_starts(daemon) == 2);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("runs that need their own sandbox start cold: files, another /tmp size", "[root][warm]") {
    Daemon daemon;
    wait_warm(2);
    v1::ClientMessage with_file = run_message({"cat", "note.txt"});
    v1::File* file = with_file.mutable_run()->add_files();
    file->set_path("note.txt");
    file->set_content("written by jaild\n");
    CHECK(run(daemon.socket(), with_file).out == "written by jaild\n");
    v1::Limits big_tmp;
    big_tmp.set_tmp_kb(128 * 1024);
    const RunResult tmp = run_sh(daemon.socket(), "df -k /tmp | tail -1", big_tmp);
    CHECK_THAT(tmp.out, Catch::Contains("131072"));
    CHECK(warm_starts(daemon) == 0);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("concurrent warm runs have distinct uids, and runs that find no free uid take a warm sandbox's",
          "[root][warm]") {
    // 10 uids: the probe keeps a pair, so 4 pairs for runs, of which the pool holds 2 when idle.
    Daemon daemon("uid_count = 10\n");
    wait_warm(2);
    const auto run_all = [&](bool cold) {
        std::vector<RunResult> results(4);
        std::vector<std::thread> threads;
        for (auto& result : results) {
            threads.emplace_back([&] {
                v1::ClientMessage request = shell("id -u; sleep 1");
                if (cold) {  // a file: these runs cannot use a warm sandbox, only its uid
                    v1::File* file = request.mutable_run()->add_files();
                    file->set_path("f");
                    file->set_content("x");
                }
                result = run(daemon.socket(), request);
            });
        }
        for (auto& t : threads) t.join();
        std::set<std::string> uids;
        for (const auto& r : results) {
            REQUIRE(r.has_exit);
            CHECK(r.exit.status() == v1::STATUS_OK);
            CHECK(std::to_string(r.uid) + "\n" == r.out);
            uids.insert(r.out);
        }
        CHECK(uids.size() == 4);
    };
    run_all(false);  // two warm, two cold
    CHECK(warm_starts(daemon) == 2);
    wait_warm(2);
    run_all(true);  // four cold: two of them free a waiting sandbox's uid
    CHECK(warm_starts(daemon) == 2);
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("no warm sandbox outlives its daemon: SIGTERM, and kill -9 with the next jaild's sweep",
          "[root][warm][lifecycle]") {
    {
        Daemon daemon;
        wait_warm(2);
        CHECK(pool_processes().size() >= 2);
        CHECK(daemon.terminate() == 0);
        CHECK(pool_processes().empty());
        CHECK(all_job_cgroups().empty());
    }
    Daemon first;
    wait_warm(2);
    first.kill9();
    CHECK(wait_until([] { return pool_processes().empty(); }, 3s));  // their parent-death signal
    CHECK(warm_cgroups() >= 2);                                      // left for the next jaild
    Daemon second("warm_sandboxes = 0\n");
    CHECK(all_job_cgroups().empty());
    CHECK(run_sh(second.socket(), "echo cold").out == "cold\n");
    CHECK(warm_starts(second) == 0);
    check_nothing_left(first.run_dir());
    check_nothing_left(second.run_dir(), second.pid());
    CHECK(all_job_cgroups().empty());
}
