// A run's CPU time counted in /proc (degraded mode, where no cgroup accounts it and gVisor ignores RLIMIT_CPU):
// fed a /proc-shaped directory with the processes of two runs, a stranger and the run's PID 1.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "jaild/sandbox/proc_cpu.h"
#include "tests/support/harness.h"

namespace {

// A /proc/<pid> with a status naming its real uid and a stat whose fields 14 to 17 are the times given (in
// clock ticks). The command name holds a space and a ')', as a program may choose.
void add_process(const std::string& proc, int pid, std::uint32_t uid, int utime, int stime, int cutime, int cstime) {
    const std::string dir = proc + "/" + std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/status") << "Name:\tx\nUmask:\t0022\nState:\tR (running)\nUid:\t" << uid << "\t" << uid
                                   << "\t" << uid << "\t" << uid << "\nGid:\t1\t1\t1\t1\n";
    std::ofstream(dir + "/stat") << pid << " (a b) c) R 1 1 1 0 -1 4194304 100 0 0 0 " << utime << " " << stime << " "
                                 << cutime << " " << cstime << " 20 0 1 0 100 1000 50\n";
}

}  // namespace

TEST_CASE("a run's CPU: its uid's processes, with what they reaped, and what its PID 1 reaped", "[unit][proc_cpu]") {
    jaild::test::TempDir dir;
    const std::string proc = dir.path() + "/proc";
    const long hz = ::sysconf(_SC_CLK_TCK);
    REQUIRE(hz > 0);
    add_process(proc, 7, 60001, 1, 1, 9 * hz, 0);         // PID 1 (the reaper's uid): only its reaped children count
    add_process(proc, 8, 60000, hz, hz, hz / 2, hz / 2);  // the program: 3 s
    add_process(proc, 9, 60000, 2 * hz, 0, 0, 0);         // its child: 2 s
    add_process(proc, 10, 60002, 50 * hz, 0, 0, 0);       // another run
    add_process(proc, 11, 0, 70 * hz, 0, 0, 0);           // root's
    std::filesystem::create_directories(proc + "/self");  // not a pid
    std::ofstream(proc + "/uptime") << "1.0 1.0\n";
    CHECK(jaild::run_cpu_ms(60000, 7, proc) == 14000);
    // Under gVisor the PID 1 has the program's uid: what it reaped still counts once.
    add_process(proc, 12, 60004, 0, 0, 4 * hz, 0);
    add_process(proc, 13, 60004, hz, 0, 0, 0);
    CHECK(jaild::run_cpu_ms(60004, 12, proc) == 5000);
    CHECK(jaild::run_cpu_ms(60002, 99, proc) == 50000);  // a PID 1 already gone counts nothing
    CHECK(jaild::run_cpu_ms(60006, 99, proc) == 0);
    CHECK(jaild::run_cpu_ms(60000, 7, dir.path() + "/missing") == 0);
}
