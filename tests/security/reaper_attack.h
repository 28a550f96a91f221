// The attack on a sandbox's PID 1 (jaild-reaper) from its program, shared by the cold, warm and live-session
// cases: a C program that tries to lower PID 1's limits, signal it, read its /proc entries and trace it, and
// prints each outcome with its errno, then the ids of both (docs/security.md, "The reaper's own uid").
#pragma once

#include <catch2/catch.hpp>
#include <sstream>
#include <string>

namespace jaild::test {

inline const char* const kReaperAttack = R"(#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <unistd.h>

static void report(const char* what, long rc) {
    if (rc >= 0) printf("ESCAPED %s rc=%ld\n", what, rc);
    else printf("BLOCKED %s errno=%d\n", what, errno);
}

static void ids(const char* who, const char* path) {
    char line[256];
    FILE* status = fopen(path, "r");
    while (status && fgets(line, sizeof line, status))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4)) printf("%s %s", who, line);
    if (status) fclose(status);
}

int main(void) {
    struct rlimit old, low = {16, 16};
    printf("READ prlimit %s\n", prlimit(1, RLIMIT_NOFILE, NULL, &old) == 0 ? "ok" : strerror(errno));
    report("prlimit-write", prlimit(1, RLIMIT_NOFILE, &low, NULL));
    report("prlimit-nproc", prlimit(1, RLIMIT_NPROC, &low, NULL));
    report("kill-0", kill(1, 0));
    report("kill-9", kill(1, SIGKILL));
    report("environ", open("/proc/1/environ", O_RDONLY));
    report("mem", open("/proc/1/mem", O_RDONLY));
    report("ptrace", ptrace(PTRACE_ATTACH, 1, 0, 0));
    report("setpriority", setpriority(PRIO_PROCESS, 1, 19));
    struct sched_param idle = {0};
    report("sched_setscheduler", sched_setscheduler(1, SCHED_IDLE, &idle));
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    report("sched_setaffinity", sched_setaffinity(1, sizeof one, &one));
    ids("SELF", "/proc/self/status");
    ids("PID1", "/proc/1/status");
    printf("DONE\n");
    return 0;
}
)";

// /bin/sh -c text that compiles the attack in /tmp and runs it (for runs that are not /execute).
inline std::string reaper_attack_script() {
    return std::string("cat > /tmp/attack.c <<'EOF'\n") + kReaperAttack +
           "EOF\ngcc -o /tmp/attack /tmp/attack.c && exec /tmp/attack";
}

// The four ids of a "Uid:\t…" line a WHO line of the attack printed ("SELF Uid:\t60000\t60000\t60000\t60000").
inline std::string reaper_attack_ids(const std::string& out, const std::string& who, const std::string& kind) {
    const std::string key = who + " " + kind + ":";
    const std::size_t at = out.find(key);
    if (at == std::string::npos) return "<none>";
    std::istringstream fields(out.substr(at + key.size(), out.find('\n', at) - at - key.size()));
    std::string real, effective, saved, fs;
    fields >> real >> effective >> saved >> fs;
    return real + " " + effective + " " + saved + " " + fs;
}

// Every write to PID 1 failed with the errno the kernel gives a stranger's process, the program's ids are
// one uid in every slot, PID 1's are another in every slot, and the program went on to its end.
inline void check_reaper_untouched(const std::string& out) {
    INFO(out);
    CHECK(out.find("ESCAPED") == std::string::npos);
    CHECK(out.find("BLOCKED prlimit-write errno=1\n") != std::string::npos);  // EPERM
    CHECK(out.find("BLOCKED prlimit-nproc errno=1\n") != std::string::npos);
    CHECK(out.find("BLOCKED kill-0 errno=1\n") != std::string::npos);
    CHECK(out.find("BLOCKED kill-9 errno=1\n") != std::string::npos);
    CHECK(out.find("BLOCKED environ errno=13\n") != std::string::npos);  // EACCES
    CHECK(out.find("BLOCKED mem errno=13\n") != std::string::npos);
    CHECK(out.find("BLOCKED ptrace errno=1\n") != std::string::npos);
    CHECK(out.find("BLOCKED setpriority errno=1\n") != std::string::npos);
    CHECK(out.find("BLOCKED sched_setscheduler errno=1\n") != std::string::npos);
    CHECK(out.find("BLOCKED sched_setaffinity errno=1\n") != std::string::npos);
    CHECK(out.find("DONE\n") != std::string::npos);
    for (const char* kind : {"Uid", "Gid"}) {
        std::istringstream self(reaper_attack_ids(out, "SELF", kind)), pid1(reaper_attack_ids(out, "PID1", kind));
        std::string p[4], r[4];
        for (auto& id : p) self >> id;
        for (auto& id : r) pid1 >> id;
        INFO(kind << " self: " << p[0] << " " << p[1] << " " << p[2] << "; pid 1: " << r[0] << " " << r[1] << " "
                  << r[2]);
        CHECK((p[0] == p[1] && p[1] == p[2] && !p[0].empty()));  // the program: (P, P, P)
        CHECK(r[0] != p[0]);                                     // PID 1: every id its own
        CHECK(r[1] == r[0]);
        CHECK(r[2] == r[0]);
    }
}

}  // namespace jaild::test
