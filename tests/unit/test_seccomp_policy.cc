// The seccomp policy: the rule table, its compilation, and the compiled filter applied for real in a forked
// child that then tries what the table says it refuses (and what it must still allow).
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "jaild/sandbox/seccomp_policy.h"

namespace seccomp = jaild::seccomp;

namespace {

// What the child observed for one call: the return value and, when it failed, errno.
struct Outcome {
    long rc = -2;  // -2: never ran
    int err = 0;
};

enum Probe : int {
    no_new_privs,
    install,
    unshare_user,
    clone_newuser,
    clone_newns,
    clone3_call,
    personality_query,
    personality_query_64,
    personality_no_randomize,
    personality_no_randomize_high_bits,
    personality_read_implies_exec,
    personality_linux32,
    personality_zero,
    ioctl_tiocsti,
    ioctl_tiocsti_high_bits,
    ioctl_fionread,
    getpid_call,
    fork_call,
    thread_call,
    probe_count,
};

void* thread_body(void*) { return reinterpret_cast<void*>(42); }

long wait_exit_code(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Child only, after fork(): installs the filter and runs every probe. Async-signal-safe calls only, then
// one write of the whole table and _exit.
[[noreturn]] void run_probes(const seccomp::Filter& filter, int out_fd, int stdin_pipe) {
    ::alarm(20);  // a hung probe must not hang the test run
    Outcome out[probe_count];
    auto record = [&](Probe probe, long rc) { out[probe] = {rc, rc < 0 ? errno : 0}; };

    // fd 0 becomes a pipe, so a TIOCSTI that got through could never reach a real terminal.
    ::dup2(stdin_pipe, STDIN_FILENO);

    record(no_new_privs, ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    const int err = seccomp::apply(filter.program());
    out[install] = {err, err};
    if (err == 0) {
        record(unshare_user, ::unshare(CLONE_NEWUSER));
        for (auto [probe, flag] : {std::pair{clone_newuser, CLONE_NEWUSER}, std::pair{clone_newns, CLONE_NEWNS}}) {
            const long pid = ::syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
            if (pid == 0) ::_exit(0);  // the filter let it through: the grandchild leaves at once
            record(probe, pid);
            if (pid > 0) ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
        }
        record(clone3_call, ::syscall(SYS_clone3, nullptr, 0));  // unfiltered: EINVAL
        // The raw syscall: glibc's personality() never sets errno.
        record(personality_query, ::syscall(SYS_personality, 0xffffffffUL));
        record(personality_query_64, ::syscall(SYS_personality, ~0UL));
        record(personality_no_randomize, ::syscall(SYS_personality, static_cast<unsigned long>(ADDR_NO_RANDOMIZE)));
        // The kernel reads an unsigned int: high bits must not smuggle a flag past the filter.
        record(personality_no_randomize_high_bits,
               ::syscall(SYS_personality, (1UL << 32) | static_cast<unsigned long>(ADDR_NO_RANDOMIZE)));
        record(personality_read_implies_exec,
               ::syscall(SYS_personality, static_cast<unsigned long>(READ_IMPLIES_EXEC)));
        record(personality_linux32, ::syscall(SYS_personality, static_cast<unsigned long>(PER_LINUX32)));
        record(personality_zero, ::syscall(SYS_personality, 0UL));
        char c = 'x';
        record(ioctl_tiocsti, ::ioctl(0, TIOCSTI, &c));
        record(ioctl_tiocsti_high_bits, ::syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, &c));
        int available = -1;
        record(ioctl_fionread, ::ioctl(0, FIONREAD, &available));
        record(getpid_call, ::syscall(SYS_getpid));
        const pid_t pid = ::fork();
        if (pid == 0) ::_exit(7);
        record(fork_call, pid < 0 ? -1 : wait_exit_code(pid));
        // pthread_create tries clone3 first; its ENOSYS must make glibc fall back to clone.
        pthread_t thread;
        void* result = nullptr;
        const int rc = ::pthread_create(&thread, nullptr, thread_body, nullptr);
        if (rc == 0 && ::pthread_join(thread, &result) == 0)
            out[thread_call] = {reinterpret_cast<long>(result), 0};
        else
            out[thread_call] = {-1, rc};
    }
    const ssize_t written = ::write(out_fd, out, sizeof out);
    ::_exit(written == static_cast<ssize_t>(sizeof out) ? 0 : 3);
}

struct ChildResult {
    Outcome out[probe_count];
    int status = 0;
};

ChildResult run_filtered_child(const seccomp::Filter& filter) {
    int results[2], stdin_pipe[2];
    REQUIRE(::pipe(results) == 0);
    REQUIRE(::pipe(stdin_pipe) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(results[0]);
        run_probes(filter, results[1], stdin_pipe[0]);
    }
    ::close(results[1]);
    ::close(stdin_pipe[0]);
    ::close(stdin_pipe[1]);
    ChildResult result;
    auto* bytes = reinterpret_cast<char*>(result.out);
    std::size_t got = 0;
    while (got < sizeof result.out) {
        const ssize_t n = ::read(results[0], bytes + got, sizeof result.out - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(results[0]);
    REQUIRE(::waitpid(pid, &result.status, 0) == pid);
    INFO("child wait status " << result.status);
    REQUIRE(WIFEXITED(result.status));
    REQUIRE(WEXITSTATUS(result.status) == 0);
    REQUIRE(got == sizeof result.out);
    return result;
}

const char* const kProbeNames[probe_count] = {
    "no_new_privs",
    "install",
    "unshare_user",
    "clone_newuser",
    "clone_newns",
    "clone3",
    "personality query",
    "personality query (64-bit)",
    "personality ADDR_NO_RANDOMIZE",
    "personality ADDR_NO_RANDOMIZE with high bits",
    "personality READ_IMPLIES_EXEC",
    "personality PER_LINUX32",
    "personality 0",
    "ioctl TIOCSTI",
    "ioctl TIOCSTI with high bits",
    "ioctl FIONREAD",
    "getpid",
    "fork",
    "pthread_create",
};

void check_refused(const Outcome* out, Probe probe, int expected_errno) {
    INFO("probe " << kProbeNames[probe] << ": rc " << out[probe].rc << ", errno " << out[probe].err);
    CHECK(out[probe].rc == -1);
    CHECK(out[probe].err == expected_errno);
}

}  // namespace

// ------------------------------------------------------------------------------------------------ table

TEST_CASE("every seccomp rule names a syscall libseccomp knows and says why", "[unit][seccomp]") {
    REQUIRE_FALSE(seccomp::rules().empty());
    std::set<std::string_view> names;
    for (const seccomp::Rule& rule : seccomp::rules()) {
        REQUIRE(rule.syscall != nullptr);
        INFO("rule " << rule.syscall);
        REQUIRE(rule.why != nullptr);
        CHECK(std::strlen(rule.why) > 0);
        const int nr = seccomp_syscall_resolve_name(rule.syscall);
        CHECK(nr != __NR_SCMP_ERROR);
#if defined(__x86_64__)
        CHECK(nr >= 0);  // a real x86-64 syscall number, not one of libseccomp's negative pseudo-syscalls
#endif
        CHECK(names.insert(rule.syscall).second);  // each syscall has one rule
    }
}

TEST_CASE("the seccomp table covers the kernel attack surface it promises", "[unit][seccomp]") {
    std::set<std::string_view> names;
    for (const seccomp::Rule& rule : seccomp::rules()) names.insert(rule.syscall);
    for (const char* name : {"mount",
                             "umount2",
                             "pivot_root",
                             "chroot",
                             "unshare",
                             "setns",
                             "clone",
                             "clone3",
                             "ptrace",
                             "process_vm_readv",
                             "process_vm_writev",
                             "keyctl",
                             "bpf",
                             "perf_event_open",
                             "userfaultfd",
                             "io_uring_setup",
                             "kexec_load",
                             "init_module",
                             "finit_module",
                             "reboot",
                             "swapon",
                             "acct",
                             "quotactl",
                             "open_by_handle_at",
                             "ioctl",
                             "personality"}) {
        INFO(name);
        CHECK(names.count(name) == 1);
    }
}

TEST_CASE("the special seccomp rules have the action their reason describes", "[unit][seccomp]") {
    using A = seccomp::Rule::Action;
    auto action_of = [](std::string_view name) {
        for (const seccomp::Rule& rule : seccomp::rules())
            if (rule.syscall == name) return rule.action;
        FAIL("no rule for " << name);
        return A::deny;
    };
    CHECK(action_of("clone3") == A::enosys);
    CHECK(action_of("clone") == A::deny_flags);
    CHECK(action_of("ioctl") == A::deny_ioctl);
    CHECK(action_of("personality") == A::deny_personality);
    CHECK(action_of("unshare") == A::deny);
    CHECK(action_of("ptrace") == A::deny);
}

// -------------------------------------------------------------------------------------------- compiling

TEST_CASE("the seccomp filter compiles to a non-empty BPF program", "[unit][seccomp]") {
    const seccomp::Filter filter = seccomp::Filter::compile();
    REQUIRE(filter.program() != nullptr);
    CHECK(filter.instructions() > 0);
    CHECK(filter.program()->len == filter.instructions());
    CHECK(filter.program()->filter != nullptr);
    CHECK(filter.instructions() <= BPF_MAXINSNS);
#if defined(__x86_64__)
    INFO("skipped: " << filter.skipped().size());
    for (const std::string& name : filter.skipped()) UNSCOPED_INFO("skipped " << name);
    CHECK(filter.skipped().empty());
#endif
}

TEST_CASE("compiling the seccomp filter is deterministic", "[unit][seccomp]") {
    const seccomp::Filter a = seccomp::Filter::compile();
    const seccomp::Filter b = seccomp::Filter::compile();
    REQUIRE(a.instructions() == b.instructions());
    CHECK(std::memcmp(a.program()->filter, b.program()->filter, a.instructions() * sizeof(sock_filter)) == 0);
}

TEST_CASE("a moved seccomp filter's program points at its own code", "[unit][seccomp]") {
    seccomp::Filter original = seccomp::Filter::compile();
    const std::size_t size = original.instructions();
    const sock_filter first = original.program()->filter[0];
    const seccomp::Filter moved(std::move(original));
    REQUIRE(moved.instructions() == size);
    CHECK(moved.program()->len == size);
    REQUIRE(moved.program()->filter != nullptr);
    CHECK(std::memcmp(&moved.program()->filter[0], &first, sizeof first) == 0);
    CHECK(original.program()->len == 0);  // the source no longer describes a program
}

// ----------------------------------------------------------------------------------------- applied for real

TEST_CASE("the applied seccomp filter refuses what the table says and allows the rest", "[unit][seccomp]") {
    const seccomp::Filter filter = seccomp::Filter::compile();
    const ChildResult child = run_filtered_child(filter);
    const Outcome* out = child.out;

    REQUIRE(out[no_new_privs].rc == 0);
    INFO("seccomp::apply returned " << out[install].err << " (" << std::strerror(out[install].err) << ")");
    REQUIRE(out[install].rc == 0);

    {  // namespaces cannot be created
        check_refused(out, unshare_user, EPERM);
        check_refused(out, clone_newuser, EPERM);
        check_refused(out, clone_newns, EPERM);
    }
    {  // clone3 answers ENOSYS
        check_refused(out, clone3_call, ENOSYS);
    }
    {  // personality: the query and PER_LINUX are allowed, flags are refused
        CHECK(out[personality_query].rc >= 0);
        CHECK(out[personality_query_64].rc >= 0);
        check_refused(out, personality_no_randomize, EPERM);
        check_refused(out, personality_no_randomize_high_bits, EPERM);
        check_refused(out, personality_read_implies_exec, EPERM);
        check_refused(out, personality_linux32, EPERM);
        CHECK(out[personality_zero].rc >= 0);
    }
    {  // TIOCSTI is refused, other ioctls are not
        check_refused(out, ioctl_tiocsti, EPERM);
        check_refused(out, ioctl_tiocsti_high_bits, EPERM);
        CHECK(out[ioctl_fionread].rc == 0);
    }
    {  // ordinary calls, fork and threads still work
        CHECK(out[getpid_call].rc > 0);
        CHECK(out[fork_call].rc == 7);
        INFO("pthread_create error " << out[thread_call].err);
        CHECK(out[thread_call].rc == 42);
    }
}

TEST_CASE("the applied seccomp filter kills a process that uses the x32 syscall ABI", "[unit][seccomp]") {
    const seccomp::Filter filter = seccomp::Filter::compile();
#if defined(__x86_64__)
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::alarm(20);
        const rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);  // the kill must not leave a core file behind
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(2);
        if (seccomp::apply(filter.program()) != 0) ::_exit(3);
        // x32's getpid: another syscall-number space that a native-only rule list does not cover.
        ::syscall(0x40000000L | SYS_getpid);
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO("wait status " << status);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGSYS);
#endif
}
