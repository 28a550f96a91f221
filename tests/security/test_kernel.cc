// Kernel interfaces: /proc/sys, /sys, cgroup release_agent, sysrq, kcore/kmsg/kallsyms, /dev/mem and friends,
// the host's environment in /proc/1/environ, and the kernel log.
// Every program prints a marker for each outcome; the test asserts the blocked marker and the run's status.
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/fortress.h"

namespace jaild::test {

TEST_CASE("kernel: /proc/sys (core_pattern, hostname, sysrq, modprobe...) cannot be written", "[security][kernel]") {
    Fortress fortress;
    const Attack attack = fortress.python(R"(
import os
targets = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/hostname', '/proc/sys/kernel/sysrq',
           '/proc/sys/kernel/modprobe', '/proc/sys/kernel/domainname', '/proc/sys/vm/overcommit_memory',
           '/proc/sys/net/ipv4/ip_forward', '/proc/sys/kernel/panic', '/proc/sys/fs/suid_dumpable']
for t in targets:
    try:
        fd = os.open(t, os.O_WRONLY)
        os.write(fd, b'|/tmp/pwn %p\n' if 'core_pattern' in t else b'1\n')
        print('WROTE', t)
    except OSError as e:
        print('BLOCKED', e.errno, t)
print('DONE', len(targets))
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "DONE 9"));
    for (const char* target :
         {"/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname", "/proc/sys/kernel/sysrq",
          "/proc/sys/kernel/modprobe", "/proc/sys/kernel/domainname", "/proc/sys/vm/overcommit_memory",
          "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/panic", "/proc/sys/fs/suid_dumpable"}) {
        INFO(target);
        if (::access(target, F_OK) == 0)  // EROFS (read-only /proc/sys) or EACCES (owned by root)
            CHECK((has(attack.out, std::string("BLOCKED 30 ") + target + "\n") ||
                   has(attack.out, std::string("BLOCKED 13 ") + target + "\n")));
        else  // this host's kernel has no such setting
            CHECK(has(attack.out, std::string("BLOCKED 2 ") + target + "\n"));
    }
    CHECK_FALSE(has(attack.out, "WROTE"));
    check_host_unharmed(fortress, attack.out + attack.err);  // compares core_pattern, hostname, sysrq, ...
}

TEST_CASE("kernel: there is no /sys to read or write", "[security][kernel]") {
    Fortress fortress;
    const Jailctl ctl = fortress.jailctl(
        {"run", "--", "/bin/sh", "-c",
         "for p in /sys/kernel/uevent_helper /sys/fs/cgroup /sys/class/net /sys/power/state /sys/kernel/mm; do "
         "  if [ -e $p ]; then echo PRESENT $p; else echo ABSENT $p; fi; done; "
         "if mkdir /sys 2>/dev/null; then echo MADE; else echo BLOCKED-mkdir; fi; "
         "if (echo /tmp/pwn > /sys/kernel/uevent_helper) 2>/dev/null; then echo WROTE; else echo BLOCKED-write; fi"});
    INFO(ctl.out << ctl.err);
    CHECK(ctl.exit_code == 0);
    CHECK(count(ctl.out, "ABSENT") == 5);
    CHECK(has(ctl.out, "BLOCKED-mkdir"));
    CHECK(has(ctl.out, "BLOCKED-write"));
    CHECK_FALSE(has(ctl.out, "PRESENT"));
    CHECK_FALSE(has(ctl.out, "WROTE"));
    check_host_unharmed(fortress, ctl.out + ctl.err);
}

TEST_CASE("kernel: the cgroup release_agent escape fails (no cgroupfs, no mount, namespaced /proc/self/cgroup)",
          "[security][kernel]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
int main(void) {
    mkdir("/tmp/cg", 0755);
    const char* types[] = {"cgroup", "cgroup2"};
    const char* options[] = {"memory", "rdma", NULL};
    for (int i = 0; i < 2; ++i) {
        if (mount("cgroup", "/tmp/cg", types[i], 0, options[i]) == 0) printf("MOUNTED %s\n", types[i]);
        else printf("BLOCKED mount-%s errno=%d\n", types[i], errno);
    }
    const char* agents[] = {"/tmp/cg/release_agent", "/sys/fs/cgroup/memory/release_agent",
                            "/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/rdma/release_agent"};
    for (int i = 0; i < 4; ++i) {
        int fd = open(agents[i], O_WRONLY);
        if (fd >= 0 && write(fd, "/tmp/pwn", 8) == 8) printf("WROTE %s\n", agents[i]);
        else printf("BLOCKED agent errno=%d\n", errno);
    }
    int n = open("/sys/fs/cgroup/memory/notify_on_release", O_WRONLY);
    if (n >= 0) puts("OPENED notify_on_release"); else printf("BLOCKED notify errno=%d\n", errno);
    /* the cgroup namespace: every hierarchy is shown as its root */
    FILE* own = fopen("/proc/self/cgroup", "r");
    char line[512];
    int lines = 0, rooted = 0;
    while (own && fgets(line, sizeof line, own)) {
        ++lines;
        size_t len = strlen(line);
        if (len >= 2 && line[len - 2] == ':' && line[len - 1] == '\n') continue;
        if (len >= 3 && !strcmp(line + len - 3, ":/\n")) ++rooted;
        else printf("CGROUP-PATH %s", line);
    }
    printf("CGROUP lines=%d rooted=%d\n", lines, rooted);
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED mount-cgroup errno=1\n"));
    CHECK(has(attack.out, "BLOCKED mount-cgroup2 errno=1\n"));
    CHECK(count(attack.out, "BLOCKED agent errno=2\n") == 4);
    CHECK(has(attack.out, "BLOCKED notify errno=2\n"));
    CHECK(has(attack.out, "CGROUP lines="));
    CHECK_FALSE(has(attack.out, "CGROUP lines=0 "));
    CHECK_FALSE(has(attack.out, "CGROUP-PATH"));  // no path of the host's tree shows through
    CHECK_FALSE(has(attack.out, "MOUNTED"));
    CHECK_FALSE(has(attack.out, "WROTE"));
    CHECK_FALSE(has(attack.out, "OPENED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("kernel: /proc/sysrq-trigger, kcore, kmsg, keys, timer_list and friends are masked by /dev/null",
          "[security][kernel]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
#include <sys/sysmacros.h>
int main(void) {
    const char* masked[] = {"/proc/sysrq-trigger", "/proc/kcore", "/proc/kmsg", "/proc/keys", "/proc/key-users",
                            "/proc/timer_list", "/proc/kallsyms", "/proc/vmallocinfo"};
    for (int i = 0; i < 8; ++i) {
        struct stat st;
        if (stat(masked[i], &st) != 0) { printf("ABSENT %s\n", masked[i]); continue; }
        int fd = open(masked[i], O_RDONLY);
        char buffer[256];
        ssize_t n = fd >= 0 ? read(fd, buffer, sizeof buffer) : -1;
        if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3 && n <= 0)
            printf("MASKED %s\n", masked[i]);
        else
            printf("EXPOSED %s read=%zd\n", masked[i], n);
    }
    /* writing to the masked sysrq-trigger goes to /dev/null; the host's kernel never sees the 'c' */
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    if (fd >= 0) printf("SYSRQ-WRITE %zd\n", write(fd, "c", 1));
    else printf("BLOCKED sysrq errno=%d\n", errno);
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "MASKED ") + count(attack.out, "ABSENT ") == 8);
    for (const char* file : {"/proc/sysrq-trigger", "/proc/kcore", "/proc/kmsg", "/proc/kallsyms", "/proc/keys"}) {
        INFO(file);
        // masked when this host's kernel has it; absent when the kernel does not provide it at all
        if (::access(file, F_OK) == 0)
            CHECK(has(attack.out, std::string("MASKED ") + file + "\n"));
        else
            CHECK(has(attack.out, std::string("ABSENT ") + file + "\n"));
    }
    CHECK_FALSE(has(attack.out, "EXPOSED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("kernel: /proc/kallsyms shows no kernel address", "[security][kernel]") {
    Fortress fortress;
    const Attack attack = fortress.python(R"(
nonzero = lines = 0
try:
    with open('/proc/kallsyms') as f:
        for line in f:
            lines += 1
            if int(line.split()[0], 16) != 0:
                nonzero += 1
    print('READ lines=%d nonzero=%d' % (lines, nonzero))
except OSError as e:
    print('BLOCKED', e.errno)
print('SAFE' if nonzero == 0 else 'LEAKED')
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "SAFE"));  // masked by /dev/null (0 lines), or every address zeroed
    CHECK_FALSE(has(attack.out, "LEAKED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("kernel: /dev/mem, /dev/kmem, /dev/port, /dev/kmsg and disks do not exist", "[security][kernel]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
#include <dirent.h>
int main(void) {
    const char* devices[] = {"/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/sda", "/dev/vda",
                             "/dev/nvme0n1", "/dev/tty0", "/dev/console", "/dev/cpu/0/msr", "/dev/fuse", "/dev/net/tun"};
    for (int i = 0; i < 12; ++i) {
        int fd = open(devices[i], O_RDWR);
        if (fd >= 0) printf("OPENED %s\n", devices[i]);
        else printf("BLOCKED %s errno=%d\n", devices[i], errno);
    }
    DIR* dev = opendir("/dev");
    printf("DEV:");
    for (struct dirent* e; dev && (e = readdir(dev));) printf(" %s", e->d_name);
    puts("");
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "errno=2\n") == 12);
    CHECK(has(attack.out, "DEV:"));
    CHECK(has(attack.out, " null"));
    CHECK_FALSE(has(attack.out, "OPENED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("kernel: /proc/1/environ and every /proc/*/environ hold none of the host's environment",
          "[security][kernel]") {
    // jaild inherits this test process's environment; a variable set here must never reach a sandbox.
    ::setenv("FORTRESS_HOST_ONLY", "host-environment-marker", 1);
    Fortress fortress;
    ::unsetenv("FORTRESS_HOST_ONLY");
    const Attack attack = fortress.python(R"(
import glob
found = readable = 0
for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):
    try:
        data = open(path, 'rb').read()
        readable += 1
        if b'FORTRESS_HOST' in data or b'host-environment' in data:
            found += 1
            print('LEAK', path)
    except OSError as e:
        print('UNREADABLE', path, e.errno)
try:
    open('/proc/1/environ', 'rb').read()
    print('PID1 readable')
except OSError as e:
    print('PID1 BLOCKED', e.errno)
print('CHECKED', readable, 'LEAKS', found)
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "CHECKED "));
    CHECK(has(attack.out, " LEAKS 0\n"));
    CHECK_FALSE(has(attack.out, "LEAK /"));
    CHECK_FALSE(has(attack.out, "host-environment-marker"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("kernel: the reaper's /proc/1/cmdline does not reveal jaild's command line or host paths",
          "[security][kernel]") {
    Fortress fortress;
    const std::string scratch = fortress.socket().substr(0, fortress.socket().rfind('/'));
    const Attack attack = fortress.sh(
        "printf 'CMDLINE '; tr '\\0' ' ' < /proc/1/cmdline; echo; "
        "printf 'COMM '; cat /proc/1/comm; echo DONE");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "DONE"));
    // jaild-reaper has exec'd before the program starts (reaper_main.cc), so not even a program that looks
    // first thing sees PID 1 as the clone of jaild it was until then
    CHECK(has(attack.out, "CMDLINE jaild-reaper \nCOMM jaild-reaper\n"));
    // jaild's binary path and its --config path (the directory that also holds its socket) are host paths
    CHECK_FALSE(has(attack.out, "--config"));
    CHECK_FALSE(has(attack.out, "jaild.toml"));
    CHECK_FALSE(has(attack.out, scratch));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("kernel: dmesg and the syslog call are refused", "[security][kernel]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
#include <sys/klog.h>
int main(void) {
    char buffer[4096];
    int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buffer, sizeof buffer);
    if (n >= 0) printf("READ %d\n", n); else printf("BLOCKED read_all errno=%d\n", errno);
    n = klogctl(10 /* SIZE_BUFFER */, NULL, 0);
    if (n >= 0) printf("READ size %d\n", n); else printf("BLOCKED size errno=%d\n", errno);
    n = klogctl(5 /* CLEAR */, NULL, 0);
    if (n >= 0) puts("CLEARED"); else printf("BLOCKED clear errno=%d\n", errno);
    fflush(stdout);
    int status = system("dmesg >/dev/null 2>&1");
    printf("DMESG exit=%d\n", WEXITSTATUS(status));
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED read_all errno=1\n"));
    CHECK(has(attack.out, "BLOCKED size errno=1\n"));
    CHECK(has(attack.out, "BLOCKED clear errno=1\n"));
    CHECK(has(attack.out, "DMESG exit="));
    CHECK_FALSE(has(attack.out, "DMESG exit=0\n"));
    CHECK_FALSE(has(attack.out, "READ"));
    CHECK_FALSE(has(attack.out, "CLEARED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("kernel: /proc shows only the run's own processes and its masked dirs are empty", "[security][kernel]") {
    Fortress fortress;
    const Jailctl ctl = fortress.jailctl(
        {"run", "--", "/bin/sh", "-c",
         "echo PIDS $(ls -d /proc/[0-9]* | wc -l); "
         "for d in /proc/acpi /proc/scsi /proc/driver /proc/tty /proc/asound; do "
         "  [ -d $d ] && [ -z \"$(ls -A $d)\" ] && echo EMPTY $d || echo NOTEMPTY-OR-ABSENT $d; done; "
         "if (echo 1 > /proc/acpi/x) 2>/dev/null; then echo WROTE; else echo BLOCKED-acpi; fi; "
         "if (echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null; then echo WROTE-ns; else echo BLOCKED-ns; fi"});
    INFO(ctl.out << ctl.err);
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "PIDS "));
    // the reaper, sh, ls, wc (and possibly the subshell): a handful, not the host's hundreds
    const std::size_t at = ctl.out.find("PIDS ");
    REQUIRE(at != std::string::npos);
    CHECK(std::stoi(ctl.out.substr(at + 5)) <= 6);
    CHECK(count(ctl.out, "EMPTY /proc/") + count(ctl.out, "NOTEMPTY-OR-ABSENT /proc/asound") >= 4);
    CHECK_FALSE(has(ctl.out, "NOTEMPTY-OR-ABSENT /proc/driver"));
    CHECK_FALSE(has(ctl.out, "NOTEMPTY-OR-ABSENT /proc/tty"));
    CHECK(has(ctl.out, "BLOCKED-acpi"));
    CHECK(has(ctl.out, "BLOCKED-ns"));
    CHECK_FALSE(has(ctl.out, "WROTE"));
    check_host_unharmed(fortress, ctl.out + ctl.err);
}

}  // namespace jaild::test
