// Resource exhaustion: hostile programs that try to use up processes, threads, memory, disk, inodes, output,
// file descriptors or CPU, or to outlive their run. Each attack prints a marker first (so it provably ran), must
// be stopped by the documented limit with the documented status, and must leave jaild serving other runs.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <future>
#include <thread>

#include "tests/support/fortress.h"

namespace jaild::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string field_string(const Attack& attack, const char* name) {
    if (!attack.json.is_object()) return "<no json>";
    const auto* v = attack.json.as_object().if_contains(name);
    if (!v) return "<absent>";
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_null()) return "<null>";
    return "<not a string>";
}

long long field_int(const Attack& attack, const char* name) {
    if (!attack.json.is_object()) return -999;
    const auto* v = attack.json.as_object().if_contains(name);
    return v && v->is_int64() ? v->as_int64() : -999;
}

bool field_bool(const Attack& attack, const char* name) {
    if (!attack.json.is_object()) return false;
    const auto* v = attack.json.as_object().if_contains(name);
    return v && v->is_bool() && v->as_bool();
}

// A normal run made while an attack is under way (or right after it): it must answer as usual, promptly.
void check_normal_run(Fortress& fortress, const std::string& word) {
    const auto started = Clock::now();
    const Attack normal = fortress.run({"/bin/echo", word});
    CHECK(normal.response.status == 200);
    CHECK(normal.status == "ok");
    CHECK(normal.out == word + "\n");
    CHECK(Clock::now() - started < 10s);
}

// Runs `attack` in the background, makes a normal run once a sandbox process exists, then returns the attack.
template <typename Attacker>
Attack with_concurrent_run(Fortress& fortress, Attacker attacker) {
    auto pending = std::async(std::launch::async, attacker);
    wait_until([] { return !sandbox_processes().empty(); }, 20s);
    check_normal_run(fortress, "concurrent");
    REQUIRE(pending.wait_for(90s) == std::future_status::ready);
    return pending.get();
}

// Prints "<key> <n>" lines; returns n for a key, or -1.
long long number_after(const std::string& text, const std::string& key) {
    const std::size_t at = text.find(key + " ");
    if (at == std::string::npos) return -1;
    return std::atoll(text.c_str() + at + key.size() + 1);
}

}  // namespace

TEST_CASE("resources: a fork bomb hits the pids limit and leaves nothing behind", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(void) {
    printf("MARK fork bomb\n"); fflush(stdout);
    int n = 0, err = 0;
    for (;;) {
        pid_t p = fork();
        if (p < 0) { err = errno; break; }
        if (p == 0) { for (;;) pause(); }
        if (++n > 100000) break;
    }
    printf("forked %d\nerrno %d\n", n, err); fflush(stdout);
    for (;;) fork();  /* the real bomb: every process that can keeps forking until the wall limit */
}
)");
    const Attack attack =
        with_concurrent_run(fortress, [&] { return fortress.c(source, R"("limits": {"nproc": 20, "wall": 2000})"); });
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.out.rfind("MARK fork bomb\n", 0) == 0);
    const long long forked = number_after(attack.out, "forked");
    CHECK(forked >= 5);
    CHECK(forked <= 20);
    CHECK(number_after(attack.out, "errno") == EAGAIN);
    CHECK(attack.status == "timeout");
    CHECK(field_string(attack, "error") == "wall-clock time limit of 2000 ms exceeded");
    CHECK(wait_until([] { return sandbox_processes().empty(); }, 5s));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: a thread bomb hits the pids limit", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
#include <pthread.h>
static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(void) {
    printf("MARK thread bomb\n"); fflush(stdout);
    pthread_attr_t attr; pthread_attr_init(&attr); pthread_attr_setstacksize(&attr, 65536);
    int n = 0, err = 0;
    for (;;) {
        pthread_t t;
        int rc = pthread_create(&t, &attr, idle, NULL);
        if (rc != 0) { err = rc; break; }
        if (++n > 100000) break;
    }
    printf("threads %d\nerror %d\n", n, err); fflush(stdout);
    return 0;
}
)");
    const Attack attack =
        with_concurrent_run(fortress, [&] { return fortress.c(source, R"("limits": {"nproc": 30, "wall": 10000})"); });
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.out.rfind("MARK thread bomb\n", 0) == 0);
    const long long threads = number_after(attack.out, "threads");
    CHECK(threads >= 10);
    CHECK(threads <= 30);
    CHECK(number_after(attack.out, "error") == EAGAIN);
    CHECK(attack.status == "ok");
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: a memory bomb (malloc and touch) is killed by the memory limit", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(void) {
    printf("MARK memory bomb\n"); fflush(stdout);
    for (int mib = 1; mib <= 4096; ++mib) {
        char *p = malloc(1 << 20);
        if (!p) { printf("malloc failed at %d\n", mib); return 3; }
        memset(p, 0x5a, 1 << 20);
        if (mib % 8 == 0) { printf("touched %d MiB\n", mib); fflush(stdout); }
    }
    printf("survived 4 GiB\n");
    return 0;
}
)");
    const Attack attack =
        with_concurrent_run(fortress, [&] { return fortress.c(source, R"("limits": {"mem": 65536, "wall": 20000})"); });
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.out.rfind("MARK memory bomb\n", 0) == 0);
    CHECK(attack.out.find("touched 16 MiB\n") != std::string::npos);
    CHECK(attack.out.find("touched 72 MiB\n") == std::string::npos);
    CHECK(attack.out.find("survived") == std::string::npos);
    CHECK(attack.status == "memory_limit");
    CHECK(field_string(attack, "error") == "memory limit of 65536 KiB exceeded");
    CHECK(field_string(attack, "signal_name") == "SIGKILL");
    CHECK(field_int(attack, "signal") == 9);  // the number, as seed 003's client reads it
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: filling /dev/shm and /tmp (tmpfs memory) is stopped by the memory limit",
          "[security][resources]") {
    // tmpfs pages are charged to the writer's memory cgroup: with /dev/shm and /tmp larger than the memory
    // limit, writing them full must end in the memory limit (the OOM kill), not in host memory pressure.
    Fortress fortress("[limits.default]\ntmp_kb = 262144\n");
    for (const std::string dir : {"/dev/shm", "/tmp"}) {
        INFO(dir);
        const std::string source = c_program(R"(
int main(int argc, char **argv) {
    (void)argc;
    char path[256]; snprintf(path, sizeof path, "%s/fill", argv[1]);
    printf("MARK filling %s\n", argv[1]); fflush(stdout);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { printf("open failed %d\n", errno); return 2; }
    static char block[1 << 20];
    memset(block, 0x33, sizeof block);
    for (int mib = 1; mib <= 240; ++mib) {
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block) { printf("write failed at %d MiB errno %d\n", mib, errno); fflush(stdout); return 4; }
        if (mib % 8 == 0) { printf("wrote %d MiB\n", mib); fflush(stdout); }
    }
    printf("survived 240 MiB\n");
    return 0;
}
)");
        const Attack attack = fortress.c(
            source, R"("args": [")" + dir + R"("], "limits": {"mem": 65536, "fsize": 524288, "wall": 20000})");
        INFO(attack.response.body);
        REQUIRE(attack.response.status == 200);
        CHECK(attack.out.rfind("MARK filling " + dir + "\n", 0) == 0);
        CHECK(attack.out.find("survived") == std::string::npos);
        CHECK(attack.out.find("wrote 80 MiB") == std::string::npos);
        CHECK(attack.status == "memory_limit");
        CHECK(field_string(attack, "error") == "memory limit of 65536 KiB exceeded");
        check_normal_run(fortress, "after " + dir);
        check_host_unharmed(fortress, attack.out + attack.err);
    }
}

TEST_CASE("resources: filling /workspace, /tmp and /dev/shm stops at the tmpfs size (ENOSPC)",
          "[security][resources]") {
    Fortress fortress("[limits.default]\ntmp_kb = 8192\n");
    const std::string source = c_program(R"(
static void fill(const char *dir) {
    char path[256]; snprintf(path, sizeof path, "%s/big", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { printf("%s open errno %d\n", dir, errno); return; }
    static char block[65536];
    memset(block, 'd', sizeof block);
    long long total = 0;
    for (;;) {
        ssize_t n = write(fd, block, sizeof block);
        if (n < 0) { printf("%s total %lld errno %d\n", dir, total, errno); break; }
        total += n;
        if (total > (1LL << 30)) { printf("%s unbounded\n", dir); break; }
    }
    close(fd);
    unlink(path);  /* room again for the next directory's test of the same memory */
}
int main(void) {
    printf("MARK disk fill\n"); fflush(stdout);
    fill("/workspace"); fill("/tmp"); fill("/dev/shm");
    return 0;
}
)");
    const Attack attack = fortress.c(source, R"("limits": {"fsize": 1048576, "mem": 262144})");
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.status == "ok");
    CHECK(attack.out.rfind("MARK disk fill\n", 0) == 0);
    for (const std::string dir : {"/workspace", "/tmp", "/dev/shm"}) {
        INFO(dir);
        const long long total = number_after(attack.out, dir + " total");
        CHECK(total > 6 * 1024 * 1024);   // the compiled program itself takes some of /workspace
        CHECK(total <= 8 * 1024 * 1024);  // tmp_kb
        CHECK(attack.out.find(dir + " total " + std::to_string(total) + " errno 28\n") != std::string::npos);
    }
    CHECK(attack.out.find("unbounded") == std::string::npos);
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: a file larger than fsize gets EFBIG, then SIGXFSZ kills the writer", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(void) {
    printf("MARK fsize\n"); fflush(stdout);
    static char block[65536];
    memset(block, 'f', sizeof block);
    signal(SIGXFSZ, SIG_IGN);
    int fd = open("/workspace/a", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    long long total = 0;
    for (;;) { ssize_t n = write(fd, block, sizeof block); if (n <= 0) { printf("ignored: total %lld errno %d\n", total, errno); break; } total += n; }
    fflush(stdout);
    signal(SIGXFSZ, SIG_DFL);
    int fd2 = open("/tmp/b", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    for (;;) if (write(fd2, block, sizeof block) <= 0) break;
    printf("survived SIGXFSZ\n");
    return 0;
}
)");
    const Attack attack = fortress.c(source, R"("limits": {"fsize": 1024})");
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.out.rfind("MARK fsize\n", 0) == 0);
    CHECK(attack.out.find("ignored: total 1048576 errno 27\n") != std::string::npos);  // EFBIG at exactly fsize
    CHECK(attack.out.find("survived") == std::string::npos);
    CHECK(attack.status == "runtime_error");
    CHECK(field_string(attack, "signal_name") == "SIGXFSZ");
    CHECK(attack.exit_code == 128 + SIGXFSZ);
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: inode exhaustion (many small files) stops at the tmpfs inode limit", "[security][resources]") {
    Fortress fortress("[limits.default]\ntmp_kb = 8192\n");  // nr_inodes = max(1024, KiB) = 8192
    const std::string source = c_program(R"(
int main(void) {
    printf("MARK inodes\n"); fflush(stdout);
    mkdir("/workspace/many", 0700);
    int n = 0, err = 0;
    char path[64];
    for (;;) {
        snprintf(path, sizeof path, "/workspace/many/%d", n);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0) { err = errno; break; }
        close(fd);
        if (++n > 1000000) break;
    }
    printf("files %d\nerrno %d\n", n, err);
    return 0;
}
)");
    const Attack attack = fortress.c(source, R"("limits": {"nofile": 64})");
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.status == "ok");
    CHECK(attack.out.rfind("MARK inodes\n", 0) == 0);
    const long long files = number_after(attack.out, "files");
    CHECK(files > 8000);
    CHECK(files <= 8192);
    CHECK(number_after(attack.out, "errno") == ENOSPC);
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: a stdout flood is cut at the output limit and truncated", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(void) {
    static char block[1 << 16];
    memset(block, 'o', sizeof block);
    memcpy(block, "MARK flood\n", 11);
    for (;;) if (write(1, block, sizeof block) < 0) return 1;
}
)");
    const auto started = Clock::now();
    const Attack attack = with_concurrent_run(
        fortress, [&] { return fortress.c(source, R"("limits": {"output": 1048576, "wall": 30000})"); });
    const auto elapsed = Clock::now() - started;
    INFO(attack.response.body.substr(0, 400));
    REQUIRE(attack.response.status == 200);
    CHECK(attack.status == "output_limit");
    CHECK(field_bool(attack, "truncated"));
    CHECK(field_string(attack, "error") == "output limit of 1048576 bytes per stream exceeded");
    CHECK(attack.out.rfind("MARK flood\n", 0) == 0);
    CHECK(attack.out.size() == 1048576);
    CHECK(attack.err.empty());
    CHECK(elapsed < 20s);
    CHECK(http_request(fortress.port(), "GET", "/health").status == 200);
    check_host_unharmed(fortress);  // the output is a megabyte of 'o': nothing secret to look for
}

TEST_CASE("resources: a stderr flood is cut at the output limit and truncated", "[security][resources]") {
    Fortress fortress;
    const Attack attack = with_concurrent_run(fortress, [&] {
        return fortress.sh("echo MARK stderr flood; exec yes 'to stderr' 1>&2", R"("output": 65536, "wall": 30000)");
    });
    INFO(attack.response.body.substr(0, 400));
    REQUIRE(attack.response.status == 200);
    CHECK(attack.status == "output_limit");
    CHECK(field_bool(attack, "truncated"));
    CHECK(attack.out == "MARK stderr flood\n");
    CHECK(attack.err.size() == 65536);
    CHECK(attack.err.rfind("to stderr\nto stderr\n", 0) == 0);
    check_host_unharmed(fortress, attack.out);
}

TEST_CASE("resources: fd exhaustion ends in EMFILE at the nofile limit", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(void) {
    printf("MARK fds\n"); fflush(stdout);
    int n = 0, err = 0, last = -1;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) { err = errno; break; }
        last = fd;
        if (++n > 1000000) break;
    }
    printf("opened %d\nerrno %d\nlast %d\n", n, err, last);
    int high = dup2(0, 5000);
    printf("dup2 %d errno %d\n", high, errno);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("socket %d errno %d\n", s, errno);
    return 0;
}
)");
    const Attack attack = fortress.c(source, R"("limits": {"nofile": 32})");
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.status == "ok");
    CHECK(attack.out.rfind("MARK fds\n", 0) == 0);
    CHECK(number_after(attack.out, "opened") >= 25);
    CHECK(number_after(attack.out, "opened") <= 29);
    CHECK(number_after(attack.out, "errno") == EMFILE);
    CHECK(number_after(attack.out, "last") == 31);
    CHECK(attack.out.find("dup2 -1 errno 9\n") != std::string::npos);  // EBADF: beyond RLIMIT_NOFILE
    CHECK(attack.out.find("socket -1 errno 24\n") != std::string::npos);
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: a CPU spinner is stopped by the CPU limit, a sleeper by the wall limit",
          "[security][resources]") {
    Fortress fortress;
    const Attack spin = fortress.sh("echo MARK spin; while :; do :; done", R"("time": 500, "wall": 20000)");
    INFO(spin.response.body);
    REQUIRE(spin.response.status == 200);
    CHECK(spin.out == "MARK spin\n");
    CHECK(spin.status == "timeout");
    CHECK(field_string(spin, "error") == "CPU time limit of 500 ms exceeded");
    CHECK(field_int(spin, "cpu_ms") >= 450);
    CHECK(field_int(spin, "wall_ms") < 10000);

    // Four spinning processes: the CPU limit counts them all (cgroup usage), not one process's rlimit.
    const Attack many = fortress.sh("echo MARK many; for i in 1 2 3 4; do (while :; do :; done) & done; wait",
                                    R"("time": 1000, "wall": 20000)");
    INFO(many.response.body);
    CHECK(many.out == "MARK many\n");
    CHECK(many.status == "timeout");
    CHECK(field_string(many, "error") == "CPU time limit of 1000 ms exceeded");

    const Attack sleeper = fortress.sh("echo MARK sleep; sleep 30; echo woke", R"("time": 500, "wall": 1500)");
    INFO(sleeper.response.body);
    REQUIRE(sleeper.response.status == 200);
    CHECK(sleeper.out == "MARK sleep\n");
    CHECK(sleeper.status == "timeout");
    CHECK(field_string(sleeper, "error") == "wall-clock time limit of 1500 ms exceeded");
    CHECK(field_int(sleeper, "cpu_ms") < 500);
    CHECK(field_int(sleeper, "wall_ms") >= 1400);
    CHECK(field_int(sleeper, "wall_ms") < 5000);
    check_host_unharmed(fortress, spin.out + many.out + sleeper.out);
}

TEST_CASE("resources: many unreaped zombies count against the pids limit and vanish with the run",
          "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
#include <dirent.h>
int main(void) {
    printf("MARK zombies\n"); fflush(stdout);
    int n = 0, err = 0;
    for (int i = 0; i < 200; ++i) {
        pid_t p = fork();
        if (p < 0) { err = errno; break; }
        if (p == 0) _exit(0);
        ++n;
    }
    usleep(300000);
    int zombies = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0) continue;
        buf[len] = 0;
        char *paren = strrchr(buf, ')');
        if (paren && paren[2] == 'Z') ++zombies;
    }
    printf("forked %d\nerrno %d\nzombies %d\n", n, err, zombies);
    return 0;
}
)");
    const Attack attack =
        with_concurrent_run(fortress, [&] { return fortress.c(source, R"("limits": {"nproc": 40, "wall": 10000})"); });
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.status == "ok");
    CHECK(attack.out.rfind("MARK zombies\n", 0) == 0);
    const long long forked = number_after(attack.out, "forked");
    CHECK(forked >= 30);
    CHECK(forked <= 40);  // zombies hold their pids: the limit stops the 200
    CHECK(number_after(attack.out, "errno") == EAGAIN);
    CHECK(number_after(attack.out, "zombies") == forked);
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: a double-forked setsid daemon does not outlive its run", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(void) {
    printf("MARK daemon\n"); fflush(stdout);
    for (int keep_stdout = 0; keep_stdout < 2; ++keep_stdout) {
        pid_t p = fork();
        if (p == 0) {
            setsid();
            if (fork() != 0) _exit(0);
            signal(SIGHUP, SIG_IGN); signal(SIGTERM, SIG_IGN);
            if (!keep_stdout) { close(0); close(1); close(2); }
            for (;;) {
                int fd = open("/tmp/alive", O_WRONLY | O_CREAT | O_APPEND, 0600);
                if (fd >= 0) { write(fd, "x", 1); close(fd); }
                if (keep_stdout) { printf("still alive\n"); fflush(stdout); }
                usleep(100000);
            }
        }
        waitpid(p, NULL, 0);
    }
    usleep(300000);
    printf("parent exits\n"); fflush(stdout);
    return 0;
}
)");
    const Attack attack = fortress.c(source, R"("limits": {"wall": 20000})");
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.status == "ok");
    CHECK(attack.out.rfind("MARK daemon\n", 0) == 0);
    CHECK(attack.out.find("still alive\n") != std::string::npos);  // the daemons did run
    CHECK(attack.out.find("parent exits\n") != std::string::npos);
    CHECK(field_int(attack, "wall_ms") < 5000);  // the run ended with its program, not at the wall limit
    std::this_thread::sleep_for(500ms);
    CHECK(sandbox_processes().empty());
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: a process that ignores SIGTERM and blocks signals is still stopped", "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(int argc, char **argv) {
    (void)argc;
    for (int s = 1; s < 32; ++s) signal(s, SIG_IGN);
    sigset_t all; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, NULL);
    printf("MARK stubborn %s\n", argv[1]); fflush(stdout);
    if (strcmp(argv[1], "sleep") == 0) { for (;;) pause(); }
    for (;;) { }  /* spin, ignoring SIGXCPU too */
}
)");
    const Attack sleeper = fortress.c(source, R"("args": ["sleep"], "limits": {"wall": 1000})");
    INFO(sleeper.response.body);
    REQUIRE(sleeper.response.status == 200);
    CHECK(sleeper.out == "MARK stubborn sleep\n");
    CHECK(sleeper.status == "timeout");
    CHECK(field_string(sleeper, "error") == "wall-clock time limit of 1000 ms exceeded");
    CHECK(field_string(sleeper, "signal_name") == "SIGKILL");
    CHECK(field_int(sleeper, "wall_ms") < 4000);

    const Attack spinner = fortress.c(source, R"("args": ["spin"], "limits": {"time": 500, "wall": 20000})");
    INFO(spinner.response.body);
    REQUIRE(spinner.response.status == 200);
    CHECK(spinner.out == "MARK stubborn spin\n");
    CHECK(spinner.status == "timeout");
    CHECK(field_string(spinner, "error") == "CPU time limit of 500 ms exceeded");
    CHECK(field_string(spinner, "signal_name") == "SIGKILL");
    check_host_unharmed(fortress, sleeper.out + spinner.out);
}

TEST_CASE("resources: a run that signals its reaper (PID 1) and kill(-1) cannot end or escape its sandbox",
          "[security][resources]") {
    Fortress fortress;
    const std::string source = c_program(R"(
int main(void) {
    printf("MARK pid1 %d\n", (int)getpid()); fflush(stdout);
    pid_t helper = fork();
    if (helper == 0) { for (;;) pause(); }
    int sigs[] = {SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGSTOP, SIGQUIT, SIGUSR1};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; ++i) {
        int rc = kill(1, sigs[i]);
        printf("kill(1,%d) %d\n", sigs[i], rc);
    }
    kill(1, SIGCONT);
    fflush(stdout);
    usleep(200000);
    int rc = kill(-1, SIGKILL);  /* everything it may signal but itself and init */
    int status = 0;
    pid_t w = waitpid(helper, &status, 0);
    printf("kill(-1) %d helper %s %d\n", rc, w == helper ? "reaped" : "missing", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    printf("ppid %d\nalive\n", (int)getppid());
    return 7;
}
)");
    const Attack attack =
        with_concurrent_run(fortress, [&] { return fortress.c(source, R"("limits": {"wall": 10000})"); });
    INFO(attack.response.body);
    REQUIRE(attack.response.status == 200);
    CHECK(attack.out.rfind("MARK pid1 ", 0) == 0);
    CHECK(attack.out.find("kill(-1) 0 helper reaped 9\n") != std::string::npos);
    CHECK(attack.out.find("alive\n") != std::string::npos);
    // The reaper shrugged everything off: the run ends with the program's own exit code.
    CHECK(attack.status == "runtime_error");
    CHECK(attack.exit_code == 7);
    CHECK(field_string(attack, "signal_name") == "<null>");
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("resources: huge argv and env are refused by jaild or by execve, never crash anything",
          "[security][resources]") {
    Fortress fortress;
    // ~900 KB of arguments in 3000 strings: allowed (below ARG_MAX and jaild's 1 MiB): the program sees them all.
    std::vector<std::string> many = {"/bin/sh", "-c", "echo MARK argc $#", "sh"};
    for (int i = 0; i < 3000; ++i) many.push_back(std::string(290, 'a' + i % 26));
    const Attack fits = fortress.run(many);
    INFO(fits.response.body.substr(0, 400));
    REQUIRE(fits.response.status == 200);
    CHECK(fits.status == "ok");
    CHECK(fits.out == "MARK argc 3000\n");

    // More than 4096 arguments: jaild refuses, the gateway names the HTTP field.
    std::vector<std::string> too_many = {"/bin/true"};
    for (int i = 0; i < 5000; ++i) too_many.push_back("x");
    const Attack counted = fortress.run(too_many);
    CHECK(counted.response.status == 400);
    CHECK(counted.response.body.find("\"field\":\"command\"") != std::string::npos);
    CHECK(counted.response.body.find("4096") != std::string::npos);

    // One argument longer than the kernel's MAX_ARG_STRLEN (128 KiB): execve fails, exit code 127.
    const Attack long_arg = fortress.run({"/bin/echo", std::string(200 * 1024, 'L')});
    INFO(long_arg.response.body.substr(0, 400));
    REQUIRE(long_arg.response.status == 200);
    CHECK(long_arg.status == "runtime_error");
    CHECK(long_arg.exit_code == 127);
    CHECK(long_arg.out.empty());

    // An environment value of the same size: the same.
    const Attack long_env = fortress.run({"/bin/true"}, R"("env": {"BIG": ")" + std::string(200 * 1024, 'E') + "\"}");
    INFO(long_env.response.body.substr(0, 400));
    REQUIRE(long_env.response.status == 200);
    CHECK(long_env.status == "runtime_error");
    CHECK(long_env.exit_code == 127);

    // More than 1024 variables: refused, naming env.
    std::string vars;
    for (int i = 0; i < 1100; ++i) vars += (i ? ", " : "") + std::string("\"V") + std::to_string(i) + "\": \"v\"";
    const Attack too_many_vars = fortress.run({"/bin/true"}, "\"env\": {" + vars + "}");
    CHECK(too_many_vars.response.status == 400);
    CHECK(too_many_vars.response.body.find("\"field\":\"env\"") != std::string::npos);

    // Over jaild's 1 MiB for argv and env together (only reachable past the gateway's body limit: jailctl).
    std::vector<std::string> big = {"run", "--", "/bin/true"};
    for (int i = 0; i < 10; ++i) big.push_back(std::string(120 * 1024, 'J'));
    const Jailctl ctl = fortress.jailctl(big);
    CHECK(ctl.exit_code != 0);
    CHECK(ctl.exit_code != -1);
    CHECK(ctl.err.find("exceed") != std::string::npos);
    check_host_unharmed(fortress, fits.out + long_arg.out + ctl.out);
}

}  // namespace jaild::test
