// Privilege escalation: setuid binaries, capabilities, uid changes, namespaces, ptrace and its relatives, the
// kernel interfaces seccomp refuses, foreign syscall ABIs, terminal injection and host-wide settings.
// Every program prints a marker for each outcome; the test asserts the blocked marker and the run's status.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/fortress.h"

namespace jaild::test {

namespace {

// A C helper every syscall attack shares: report(name, rc) prints "BLOCKED name errno=N" or "ESCAPED name".
const char* const kReport = R"(
static int blocked_eperm = 0;
static void report(const char* what, long rc) {
    if (rc >= 0) { printf("ESCAPED %s rc=%ld\n", what, rc); return; }
    printf("BLOCKED %s errno=%d\n", what, errno);
    if (errno == EPERM) ++blocked_eperm;
}
)";

Attack attack_c(Fortress& fortress, const std::string& body) { return fortress.c(c_program(kReport + body)); }

}  // namespace

TEST_CASE("privilege: setuid binaries (su, passwd, mount...) give no privileges", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = fortress.sh(
        "n=0; for f in $(find /usr/bin /usr/sbin -perm -4000 -type f 2>/dev/null); do n=$((n+1)); "
        "  (timeout 1 $f --version </dev/null >/dev/null 2>&1 &); done; wait; "
        "echo SUID-FILES $n; "
        "grep -E ' /usr ' /proc/self/mountinfo | grep -q nosuid && echo USR-NOSUID; "
        "timeout 0.5 su -c 'echo ROOTED' root </dev/null 2>/dev/null || echo BLOCKED-su; "
        "echo x | passwd -S root >/dev/null 2>&1 && echo ROOTED-passwd || echo BLOCKED-passwd; "
        "mount -t tmpfs none /tmp 2>/dev/null && echo ROOTED-mount || echo BLOCKED-mount; "
        "echo 'echo ROOTED-newgrp-shell' | timeout 0.5 newgrp root 2>/dev/null || echo BLOCKED-newgrp; "
        "echo UID $(id -u) EUID $(id -u -r)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "SUID-FILES "));
    struct stat su {};
    if (::stat("/usr/bin/su", &su) == 0 && (su.st_mode & S_ISUID))  // the host's /usr has them: so must the view
        CHECK_FALSE(has(attack.out, "SUID-FILES 0\n"));
    CHECK(has(attack.out, "USR-NOSUID"));
    CHECK(has(attack.out, "BLOCKED-su"));
    CHECK(has(attack.out, "BLOCKED-passwd"));
    CHECK(has(attack.out, "BLOCKED-mount"));
    CHECK(has(attack.out, "BLOCKED-newgrp"));
    CHECK_FALSE(has(attack.out, "ROOTED"));
    CHECK_FALSE(has(attack.out, "UID 0 "));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("privilege: a setuid-root binary's effective uid stays the run's uid", "[security][privilege]") {
    Fortress fortress;
    // Run a setuid-root binary (mount) with a program that reports the ids it got: /usr is nosuid and
    // no_new_privs is set, so nothing changes. Here the marker is the ids /proc reports during exec of su.
    const Attack attack = attack_c(fortress, R"(
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        execl("/usr/bin/su", "su", "-c", "id -u", "root", (char*)NULL);
        _exit(127);
    }
    usleep(50000);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", child);
    FILE* status = fopen(path, "r");
    while (status && fgets(line, sizeof line, status))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "CapEff:", 7)) printf("CHILD %s", line);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("SELF euid=%d\n", (int)geteuid());
    return 0;
}
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "SELF euid="));
    CHECK_FALSE(has(attack.out, "SELF euid=0\n"));
    CHECK_FALSE(has(attack.out, "\t0\t"));  // no uid field of the child is 0
    CHECK_FALSE(has(attack.out, "CapEff:\t0000003"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("privilege: every capability set is empty and no_new_privs and seccomp are on", "[security][privilege]") {
    Fortress fortress;
    const Jailctl ctl = fortress.jailctl(
        {"run", "--", "/bin/grep", "-E", "^(Cap|NoNewPrivs|Seccomp:|Uid|Groups)", "/proc/self/status"});
    INFO(ctl.out << ctl.err);
    CHECK(ctl.exit_code == 0);
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
        CHECK(has(ctl.out, std::string(set) + ":\t0000000000000000\n"));
    CHECK(has(ctl.out, "NoNewPrivs:\t1\n"));
    CHECK(has(ctl.out, "Seccomp:\t2\n"));
    const std::size_t groups = ctl.out.find("Groups:");
    REQUIRE(groups != std::string::npos);
    const std::string group_list = ctl.out.substr(groups + 7, ctl.out.find('\n', groups) - groups - 7);
    CHECK(group_list.find_first_not_of(" \t") == std::string::npos);  // no supplementary groups
    CHECK_FALSE(has(ctl.out, "Uid:\t0"));
    check_host_unharmed(fortress, ctl.out + ctl.err);
}

TEST_CASE("privilege: setuid(0), setgid(0), setgroups and capset are refused", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <linux/capability.h>
int main(void) {
    report("setuid", setuid(0));
    report("setresuid", syscall(SYS_setresuid, 0, 0, 0));
    report("setgid", setgid(0));
    report("setresgid", syscall(SYS_setresgid, 0, 0, 0));
    gid_t groups[1] = {0};
    report("setgroups", syscall(SYS_setgroups, 1, groups));
    report("setfsuid", setfsuid(0) == (int)getuid() && setfsuid(-1) == 0 ? 0 : -1);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{~0u, ~0u, ~0u}, {~0u, ~0u, ~0u}};
    report("capset", syscall(SYS_capset, &header, data));
    report("prctl-ambient", prctl(47 /* PR_CAP_AMBIENT */, 2 /* RAISE */, 21 /* CAP_SYS_ADMIN */, 0, 0));
    report("prctl-securebits", prctl(28 /* PR_SET_SECUREBITS */, 0, 0, 0, 0));
    printf("IDS uid=%d euid=%d gid=%d\n", (int)getuid(), (int)geteuid(), (int)getgid());
    return 0;
}
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "BLOCKED") == 9);
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK(has(attack.out, "IDS uid="));
    CHECK_FALSE(has(attack.out, "uid=0 "));
    CHECK_FALSE(has(attack.out, "euid=0 "));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("privilege: user namespaces are refused by unshare, clone and the unshare tool", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
int main(void) {
    report("unshare-user", unshare(CLONE_NEWUSER));
    report("clone-user", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    report("clone-user-ns", syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
    struct { unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } args =
        {CLONE_NEWUSER, 0, 0, 0, SIGCHLD, 0, 0, 0};
    long rc = syscall(SYS_clone3, &args, sizeof args);
    if (rc == 0) _exit(0);
    report("clone3-user", rc);
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    const Jailctl ctl =
        fortress.jailctl({"run", "--", "/bin/sh", "-c", "unshare -U -r id -u 2>&1 || echo BLOCKED-unshare-tool"});
    INFO(attack.out << attack.err << ctl.out << ctl.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "BLOCKED") == 4);
    CHECK(has(attack.out, "EPERM 3\n"));
    CHECK(has(attack.out, "BLOCKED clone3-user errno=38\n"));  // ENOSYS: glibc falls back to the checked clone
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "BLOCKED-unshare-tool"));
    check_host_unharmed(fortress, attack.out + attack.err + ctl.out + ctl.err);
}

TEST_CASE("privilege: unshare and clone of every namespace type are refused", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
int main(void) {
    const struct { const char* name; int flag; } types[] = {
        {"mnt", CLONE_NEWNS}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
        {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP}, {"time", 0x80 /* CLONE_NEWTIME */},
        {"user", CLONE_NEWUSER}};
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; ++i) {
        char what[64];
        snprintf(what, sizeof what, "unshare-%s", types[i].name);
        report(what, unshare(types[i].flag));
        if (types[i].flag == 0x80) continue; /* CLONE_NEWTIME is unshare-only */
        snprintf(what, sizeof what, "clone-%s", types[i].name);
        long rc = syscall(SYS_clone, types[i].flag | SIGCHLD, 0, 0, 0, 0);
        if (rc == 0) _exit(0);
        if (rc > 0) waitpid(rc, NULL, 0);
        report(what, rc);
    }
    long child = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); /* a plain fork stays allowed */
    if (child == 0) _exit(0);
    if (child > 0) { waitpid(child, NULL, 0); puts("FORK-OK"); }
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "EPERM 15\n"));  // 8 unshare + 7 clone
    CHECK(has(attack.out, "FORK-OK"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("privilege: setns into /proc/1/ns/* and /proc/self/ns/* is refused", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
int main(void) {
    const char* types[] = {"mnt", "uts", "ipc", "net", "pid", "cgroup", "user", "time"};
    const char* pids[] = {"1", "self"};
    int opened = 0;
    for (int p = 0; p < 2; ++p)
        for (unsigned i = 0; i < sizeof types / sizeof types[0]; ++i) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%s/ns/%s", pids[p], types[i]);
            int fd = open(path, O_RDONLY);
            if (fd < 0) { printf("NOOPEN %s errno=%d\n", path, errno); continue; }
            ++opened;
            report(path, setns(fd, 0));
            close(fd);
        }
    printf("OPENED %d EPERM %d\n", opened, blocked_eperm);
    return 0;
}
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "OPENED "));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    // every namespace file that could be opened met seccomp's EPERM (the reaper's are not even openable)
    const std::size_t opened = count(attack.out, "BLOCKED /proc/");
    CHECK(opened >= 8);
    CHECK(has(attack.out, "OPENED " + std::to_string(opened) + " EPERM " + std::to_string(opened) + "\n"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("privilege: ptrace is refused for the own child, PID 1 and the parent", "[security][privilege]") {
    Fortress fortress;
    // docs/security.md: ptrace is EPERM in every form, even of one's own child.
    const Attack attack = attack_c(fortress, R"(
#include <sys/ptrace.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    report("attach-child", ptrace(PTRACE_ATTACH, child, 0, 0));
    report("seize-child", ptrace(PTRACE_SEIZE, child, 0, 0));
    report("attach-pid1", ptrace(PTRACE_ATTACH, 1, 0, 0));
    report("attach-parent", ptrace(PTRACE_ATTACH, getppid(), 0, 0));
    pid_t tracee = fork();
    if (tracee == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) == 0) puts("ESCAPED traceme");
        else printf("BLOCKED traceme errno=%d\n", errno);
        fflush(stdout);
        _exit(0);
    }
    waitpid(tracee, NULL, 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    check_blocked(fortress, attack, {"EPERM 4\n", "BLOCKED traceme errno=1\n"});
}

TEST_CASE("privilege: process_vm_readv/writev, pidfd_getfd and kcmp are refused", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
#include <sys/uio.h>
static char secret[32] = "child-memory";
int main(void) {
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    char buffer[32] = "";
    struct iovec local = {buffer, sizeof buffer}, remote = {secret, sizeof secret};
    report("process_vm_readv", process_vm_readv(child, &local, 1, &remote, 1, 0));
    report("process_vm_writev", process_vm_writev(child, &local, 1, &remote, 1, 0));
    report("process_vm_readv-pid1", process_vm_readv(1, &local, 1, &remote, 1, 0));
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    report("pidfd_getfd", syscall(SYS_pidfd_getfd, pidfd, 1, 0));
    report("kcmp", syscall(SYS_kcmp, getpid(), child, 0 /* KCMP_FILE */, 1, 1));
    report("process_madvise", syscall(SYS_process_madvise, pidfd, &remote, 1, MADV_COLD, 0));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("PIDFD %s EPERM %d\n", pidfd >= 0 ? "ok" : "none", blocked_eperm);
    return 0;
}
)");
    check_blocked(fortress, attack, {"EPERM 6\n"});
}

TEST_CASE("privilege: keyctl, add_key and request_key are refused", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
int main(void) {
    report("add_key", syscall(SYS_add_key, "user", "jaild-test", "payload", 7, -3 /* session keyring */));
    report("request_key", syscall(SYS_request_key, "user", "jaild-test", NULL, 0));
    report("keyctl-join", syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, NULL));
    report("keyctl-get", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    check_blocked(fortress, attack, {"EPERM 4\n"});
}

TEST_CASE("privilege: bpf, perf_event_open, userfaultfd and io_uring are refused", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
int main(void) {
    char attr[128] = {0};  /* struct bpf_attr / perf_event_attr, zeroed */
    report("bpf-map", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr));
    report("bpf-prog", syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, attr, sizeof attr));
    *(unsigned*)(attr + 4) = 128;  /* perf_event_attr.size */
    report("perf_event_open", syscall(SYS_perf_event_open, attr, 0, -1, -1, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    char params[120] = {0};
    report("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
    report("io_uring_enter", syscall(SYS_io_uring_enter, 0, 0, 0, 0, NULL, 0));
    report("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    check_blocked(fortress, attack, {"EPERM 7\n"});
}

TEST_CASE("privilege: personality may only be queried (no ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC)",
          "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
#include <sys/personality.h>
int main(void) {
    report("query", personality(0xffffffff));
    report("linux", personality(PER_LINUX));
    report("addr_no_randomize", personality(ADDR_NO_RANDOMIZE));
    report("read_implies_exec", personality(READ_IMPLIES_EXEC));
    report("linux32", personality(PER_LINUX32));
    report("mmap_page_zero", personality(MMAP_PAGE_ZERO));
    report("high-bits", syscall(SYS_personality, 0x100000000UL | ADDR_NO_RANDOMIZE));
    printf("NOW %#x EPERM %d\n", personality(0xffffffff), blocked_eperm);
    return 0;
}
)");
    const Jailctl ctl =
        fortress.jailctl({"run", "--", "/bin/sh", "-c", "setarch x86_64 -R true 2>/dev/null || echo BLOCKED-setarch"});
    INFO(attack.out << attack.err << ctl.out << ctl.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "ESCAPED query"));  // allowed by the policy: only the query
    CHECK(has(attack.out, "ESCAPED linux"));
    CHECK(has(attack.out, "EPERM 5\n"));
    CHECK(has(attack.out, "NOW 0 "));
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "BLOCKED-setarch"));
    check_host_unharmed(fortress, attack.out + attack.err + ctl.out);
}

TEST_CASE("privilege: i386 (int 0x80) and x32 system calls kill the process", "[security][privilege]") {
    // Does this host's kernel have the i386 entry point at all? (Without it, int 0x80 is a general protection
    // fault, SIGSEGV, before seccomp sees anything.)
    const pid_t probe = ::fork();
    if (probe == 0) {
        ::signal(SIGSEGV, SIG_DFL);  // not Catch's handler, which would report a failure from the child
        long rc = 0, nr = 24;        /* i386 getuid */
        __asm__ volatile("int $0x80" : "=a"(rc) : "a"(nr) : "memory");
        ::_exit(rc >= 0 ? 0 : 1);
    }
    int probe_status = 0;
    ::waitpid(probe, &probe_status, 0);
    const bool host_has_i386 = WIFEXITED(probe_status);
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
static void attempt(const char* what, int x32) {
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        long rc;
        if (x32) {
            rc = syscall(0x40000000 | SYS_getuid);
        } else {
            long nr = 24; /* i386 getuid */
            __asm__ volatile("int $0x80" : "=a"(rc) : "a"(nr) : "memory");
        }
        printf("ESCAPED %s rc=%ld\n", what, rc);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status)) printf("KILLED %s signal=%d\n", what, WTERMSIG(status));
    else printf("EXITED %s\n", what);
}
int main(void) {
    attempt("int80", 0);
    attempt("x32", 1);
    puts("DONE");
    return 0;
}
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "DONE"));
    INFO("the host's kernel " << (host_has_i386 ? "has" : "lacks") << " the i386 entry point");
    if (host_has_i386)
        CHECK(has(attack.out, "KILLED int80 signal=31\n"));  // SIGSYS: seccomp's bad-arch action
    else
        CHECK(has(attack.out, "KILLED int80 signal=11\n"));  // SIGSEGV: no such entry point on this kernel
    CHECK(has(attack.out, "KILLED x32 signal=31\n"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("privilege: TIOCSTI and TIOCLINUX are refused on every fd, and there is no tty", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
#include <sys/ioctl.h>
int main(void) {
    char c = 'x';
    for (int fd = 0; fd < 3; ++fd) {
        char what[32];
        snprintf(what, sizeof what, "tiocsti-%d", fd);
        report(what, ioctl(fd, TIOCSTI, &c));
        snprintf(what, sizeof what, "tioclinux-%d", fd);
        report(what, ioctl(fd, TIOCLINUX, &c));
    }
    /* the upper 32 bits of the request are ignored by the kernel: they must not dodge the rule */
    report("tiocsti-high", syscall(SYS_ioctl, 0, 0x100000000UL | TIOCSTI, &c));
    int tty = open("/dev/tty", O_RDWR);
    if (tty >= 0) report("tiocsti-tty", ioctl(tty, TIOCSTI, &c));
    else printf("NOTTY errno=%d\n", errno);
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    check_blocked(fortress, attack, {"EPERM 7\n", "NOTTY errno="});
}

TEST_CASE("privilege: kexec, modules, reboot, swap, acct and quotactl are refused", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
int main(void) {
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
    report("init_module", syscall(SYS_init_module, "", 0, ""));
    report("finit_module", syscall(SYS_finit_module, 0, "", 0));
    report("delete_module", syscall(SYS_delete_module, "ext4", 0));
    report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x1234567 /* RESTART */, NULL));
    report("swapon", syscall(SYS_swapon, "/tmp/swap", 0));
    report("swapoff", syscall(SYS_swapoff, "/tmp/swap"));
    report("acct", syscall(SYS_acct, "/tmp/acct"));
    report("quotactl", syscall(SYS_quotactl, 0, "/tmp", 0, NULL));
    report("lookup_dcookie", syscall(SYS_lookup_dcookie, 0, NULL, 0));
    report("vhangup", syscall(SYS_vhangup));
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    check_blocked(fortress, attack, {"EPERM 12\n"});
}

TEST_CASE("privilege: the clock, I/O ports and the LDT cannot be touched", "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
int main(void) {
    struct timeval tv = {0, 0};
    report("settimeofday", settimeofday(&tv, NULL));
    struct timespec ts = {0, 0};
    report("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
    struct timex tx = {.modes = ADJ_OFFSET, .offset = 1000000};
    report("adjtimex", adjtimex(&tx));
    report("clock_adjtime", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
    report("iopl", syscall(SYS_iopl, 3));
    report("ioperm", syscall(SYS_ioperm, 0x60, 8, 1));
    char ldt[16] = {0};
    report("modify_ldt", syscall(SYS_modify_ldt, 1, ldt, sizeof ldt));
    report("syslog", syscall(SYS_syslog, 3, ldt, sizeof ldt));
    printf("EPERM %d\n", blocked_eperm);
    return 0;
}
)");
    check_blocked(fortress, attack, {"EPERM 8\n"});
}

TEST_CASE("privilege: negative nice, chown to root and another uid, sethostname and setdomainname are refused",
          "[security][privilege]") {
    Fortress fortress;
    const Attack attack = attack_c(fortress, R"(
#include <sys/resource.h>
#include <sys/utsname.h>
int main(void) {
    report("setpriority", setpriority(PRIO_PROCESS, 0, -10));
    report("nice", nice(-1) == -1 ? -1 : 0);
    int fd = open("/workspace/mine", O_CREAT | O_WRONLY, 0644);
    close(fd);
    report("chown-root", chown("/workspace/mine", 0, 0));
    report("chown-other", chown("/workspace/mine", getuid() + 1, getgid() + 1));
    report("chown-usr", chown("/usr/bin/sh", getuid(), getgid()));
    report("sethostname", sethostname("pwned", 5));
    report("setdomainname", setdomainname("pwned", 5));
    struct utsname name;
    uname(&name);
    printf("HOST %s DOMAIN %s EPERM %d\n", name.nodename, name.domainname, blocked_eperm);
    return 0;
}
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "BLOCKED") == 7);
    CHECK(has(attack.out, "BLOCKED sethostname errno=1\n"));
    CHECK(has(attack.out, "BLOCKED setdomainname errno=1\n"));
    CHECK(has(attack.out, "BLOCKED chown-root errno=1\n"));
    CHECK(has(attack.out, "HOST jaild "));
    CHECK_FALSE(has(attack.out, "pwned"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

}  // namespace jaild::test
