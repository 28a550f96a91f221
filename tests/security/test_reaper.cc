// The sandbox's PID 1 (jaild-reaper) runs under a uid of its own: its program cannot lower its limits,
// signal it, read its /proc entries or trace it, in a cold run, a warm one and a run the zygote forked
// (docs/security.md, "The reaper's own uid"). The live-session case is in test_live_sessions.cc.
#include <catch2/catch.hpp>
#include <string>

#include "tests/security/reaper_attack.h"
#include "tests/support/fortress.h"

namespace jaild::test {

using namespace std::chrono_literals;

namespace {

// Runs started in a warm sandbox, as the daemon's log names them.
std::size_t warm_starts(const Fortress& fortress) {
    const std::string log = fortress.stack.daemon.log();
    std::size_t n = 0;
    for (std::size_t at = log.find("(warm sandbox "); at != std::string::npos; at = log.find("(warm sandbox ", at + 1))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("reaper: a cold run's program cannot prlimit, kill, read or trace PID 1", "[security][reaper]") {
    Fortress fortress;
    const Attack attack = fortress.c(kReaperAttack);  // /execute: compile and run steps share a workspace: cold
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(attack.exit_code == 0);
    check_reaper_untouched(attack.out);
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("reaper: a warm run's program cannot prlimit, kill, read or trace PID 1", "[security][reaper][warm]") {
    Fortress fortress("warm_sandboxes = 2\n");
    // The pool fills after start: wait for a warm sandbox, or the run would start cold.
    REQUIRE(wait_until([&] { return stats(fortress.socket()).sandboxes_warm() > 0; }, 10s));
    const std::size_t before = warm_starts(fortress);
    const Attack attack = fortress.sh(reaper_attack_script(), "\"time\": 20000");
    INFO(attack.out << attack.err);
    CHECK(warm_starts(fortress) == before + 1);
    CHECK(attack.status == "ok");
    CHECK(attack.exit_code == 0);
    check_reaper_untouched(attack.out);
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("reaper: a program the zygote forked into a warm sandbox cannot prlimit, kill or read PID 1",
          "[security][reaper][zygote]") {
    Fortress fortress("[zygote]\nenabled = true\n");
    const std::uint64_t before = stats(fortress.socket()).zygote_runs();
    const Attack attack = fortress.python(R"(import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def report(name, rc):
    print('ESCAPED %s rc=%d' % (name, rc) if rc >= 0 else 'BLOCKED %s errno=%d' % (name, ctypes.get_errno()))
low = (ctypes.c_ulong * 2)(16, 16)
report('prlimit-write', libc.prlimit(1, 7, low, None))
report('prlimit-nproc', libc.prlimit(1, 6, low, None))
report('kill-0', libc.kill(1, 0))
report('kill-9', libc.kill(1, 9))
report('environ', libc.open(b'/proc/1/environ', 0))
report('mem', libc.open(b'/proc/1/mem', 0))
report('ptrace', libc.ptrace(16, 1, None, None))
report('setpriority', libc.setpriority(0, 1, 19))
report('sched_setscheduler', libc.sched_setscheduler(1, 5, ctypes.byref(ctypes.c_int(0))))
one_cpu = ctypes.c_ulong(1)
report('sched_setaffinity', libc.sched_setaffinity(1, ctypes.sizeof(one_cpu), ctypes.byref(one_cpu)))
for who, path in (('SELF', '/proc/self/status'), ('PID1', '/proc/1/status')):
    for line in open(path):
        if line.startswith(('Uid:', 'Gid:')):
            print(who, line, end='')
print('DONE')
)");
    INFO(attack.out << attack.err);
    CHECK(stats(fortress.socket()).zygote_runs() == before + 1);
    CHECK(attack.status == "ok");
    check_reaper_untouched(attack.out);
    check_host_unharmed(fortress, attack.out + attack.err);
}

}  // namespace jaild::test
