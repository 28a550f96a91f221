// jaild-reaper: PID 1 of a sandbox while its program runs.
//
// The sandbox's first process is a clone of jaild (spawn.cc). It builds the sandbox down to the seccomp
// filter, then execs this binary, which starts the program and reaps. The exec comes before the program
// starts: until it, the first process is jaild's memory (shared, or copied copy-on-write), and a program
// already running could read jaild's command line in /proc/1/cmdline meanwhile. Its work: start the program,
// reap every process that ends in the namespace, and when the program ends, report its wait status to jaild
// on fd 4 and exit, which makes the kernel kill everything the program left behind (pid_namespaces(7)).
//
// It is built freestanding, without a C library (jaild/sandbox/CMakeLists.txt): it starts once per run, on the
// run's path, and glibc's static start-up (IRELATIVE relocations, TLS, tunables) and the pages it touches
// would be work it does not need (bench/README.md, "Why the reaper and jailctl are built as they are"). What
// it needs is a handful of raw system calls.
//
// Usage (by jaild only): the command line of child_abi.h, with the program's stdio on fds 0-2, its result
// channel (if any) on fd 3 and the report channel on fd 4, and nothing else open. `jaild-reaper warm`: a
// warm sandbox's (jaild/sandbox/warm_pool.h), which reads the program's start from the report channel instead.
#include <asm/unistd.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/futex.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/signal.h>
#include <linux/wait.h>

#include "jaild/sandbox/child_abi.h"
#include "jaild/sandbox/reaper_loop.h"
#include "jaild/sandbox/zygote_abi.h"

#if !defined(__x86_64__)
#error "jaild-reaper's system calls and entry point are written for x86-64 (the architecture jaild ships for)"
#endif

namespace {

// The x86-64 system call convention: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9; rcx and r11 are
// clobbered; the result (or -errno) comes back in rax.
long syscall6(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return result;
}

long as_long(const void* pointer) { return reinterpret_cast<long>(pointer); }

[[noreturn]] void exit_now(int code) {
    for (;;) syscall6(__NR_exit_group, code);
}

void report(const jaild::ChildReport& record) {
    // The channel is a SOCK_SEQPACKET socket pair: each record is one message, read whole.
    while (syscall6(__NR_write, jaild::child_report_fd, as_long(&record), sizeof record) == -EINTR) {
    }
}

// SIGKILL when jaild ends. The kernel clears this setting on a secure exec and on every change of our effective
// ids, so it is armed again after each; should jaild have ended before, its end of the report channel is
// closed, and we end now.
long arm_parent_death() {
    if (const long rc = syscall6(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL); rc < 0) return rc;
    constexpr short kPollHup = 0x10;  // POLLHUP (asm-generic/poll.h)
    struct {
        int fd;
        short events, revents;
    } report_channel{jaild::child_report_fd, 0, 0};
    if (syscall6(__NR_poll, as_long(&report_channel), 1, 0) > 0 && (report_channel.revents & kPollHup) != 0)
        exit_now(0);
    return 0;
}

// Runs child(arg) in a new process that shares our memory on `stack_top` until it execs or exits
// (CLONE_VM; not CLONE_VFORK: we go on at once, and the child waits for us before its execve, reaper_loop.h).
// A fork would cost a new address space and, in the child, a fresh fault on every page of code it runs
// (bench/README.md). Returns the child's pid or -errno.
long spawn(void (*child)(void*), void* arg, char* stack_top) {
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    long result;
    // The child returns from the system call with every register as it was except rax (0) and the stack
    // pointer (stack_top, 16-byte aligned): it calls child(arg) from there and never comes back. Both are
    // read into rdi and rax before rbp is cleared (the compiler may have put either in rbp).
    __asm__ volatile(
        "syscall\n"
        "test %%rax, %%rax\n"
        "jnz 1f\n"
        "mov %[arg], %%rdi\n"
        "mov %[child], %%rax\n"
        "xor %%ebp, %%ebp\n"
        "call *%%rax\n"
        "hlt\n"
        "1:\n"
        : "=a"(result)
        : "a"(__NR_clone), "D"(CLONE_VM | SIGCHLD), "S"(stack_top), "d"(0), "r"(r10),
          "r"(r8), [child] "r"(child), [arg] "r"(arg)
        : "rcx", "r11", "memory");
    return result;
}

// The reaper loop's system calls (reaper_loop.h), raw.
struct RawSys {
    static long execve(const char* path, char* const* argv, char* const* envp) {
        return syscall6(__NR_execve, as_long(path), as_long(argv), as_long(envp));
    }
    static long spawn(void (*child)(void*), void* arg, char* stack_top) { return ::spawn(child, arg, stack_top); }
    static long become_program() {
        const long gid = syscall6(__NR_getegid);
        const long uid = syscall6(__NR_geteuid);
        if (const long rc = syscall6(__NR_setresgid, gid, gid, gid); rc < 0) return rc;
        return syscall6(__NR_setresuid, uid, uid, uid);
    }
    static long become_own() {
        const long gid = syscall6(__NR_getgid);
        const long uid = syscall6(__NR_getuid);
        if (const long rc = syscall6(__NR_setresgid, -1, gid, -1); rc < 0) return rc;
        if (const long rc = syscall6(__NR_setresuid, -1, uid, -1); rc < 0) return rc;
        return arm_parent_death();
    }
    static void wait_word(std::uint32_t* word) { syscall6(__NR_futex, as_long(word), FUTEX_WAIT_PRIVATE, 0, 0); }
    static void wake_word(std::uint32_t* word) { syscall6(__NR_futex, as_long(word), FUTEX_WAKE_PRIVATE, 1); }
    static long close(int fd) { return syscall6(__NR_close, fd); }
    static long wait_any(int* status) { return syscall6(__NR_wait4, -1, as_long(status), __WALL, 0); }
    static void report(const jaild::ChildReport& record) { ::report(record); }
    [[noreturn]] static void exit(int code) { exit_now(code); }
};

// /proc/1/cmdline (and ps) in the sandbox show plain "jaild-reaper", not the program's arguments and
// environment: the text after argv[0] is wiped, and a non-NUL last byte makes the kernel read it the way it
// reads a setproctitle()d command line, up to the first NUL (get_mm_cmdline in fs/proc/base.c). Done before
// the program starts, so that a program reading /proc/1/cmdline at once finds it wiped.
void wipe_command_line(char* strings_begin, char* strings_end) {
    for (char* p = strings_begin; p != strings_end; ++p) *p = '\0';
    strings_end[-1] = '.';
}

[[noreturn]] void fail(jaild::Stage stage, long err, int detail = 0) {
    report({jaild::ChildReport::failed, stage, static_cast<std::int32_t>(err), detail, 0});
    exit_now(127);
}

// Our first act. jaild's clone left us real and saved ids of our own and the program's as effective ones
// (credentials.h), and the execve that made us copied the effective ids into the saved ones: the saved ids go
// back to our own before any process of the program's uid can exist (we start it, or a warm sandbox's program
// arrives later: warm_pool.h), so that no such process may signal us (kill(2) compares its ids with our real
// and saved uid), lower our limits or read our /proc entries (prlimit(2) and ptrace access want all our ids
// equal to its). That execve also cleared the parent-death signal (an execve whose effective ids differ from
// the real ones is a secure one): it is set again, and should jaild have ended before, its end of the report
// channel is closed, and we end too.
void settle_ids() {
    constexpr long kUnchanged = -1;
    const long gid = syscall6(__NR_getgid);
    const long uid = syscall6(__NR_getuid);
    // The program's uid as ours too (gVisor, whose execve took back the effective uid jaild gave us): the
    // program's processes must at least not read or write our memory through /proc/1/mem.
    if (uid == syscall6(__NR_geteuid)) {
        if (const long rc = syscall6(__NR_prctl, PR_SET_DUMPABLE, 0); rc < 0) fail(jaild::Stage::dumpable, -rc);
    }
    if (const long rc = syscall6(__NR_setresgid, kUnchanged, kUnchanged, gid); rc < 0)
        fail(jaild::Stage::credentials, -rc);
    if (const long rc = syscall6(__NR_setresuid, kUnchanged, kUnchanged, uid); rc < 0)
        fail(jaild::Stage::credentials, -rc);
    if (const long rc = arm_parent_death(); rc < 0) fail(jaild::Stage::parent_death, -rc);
}

// Starts the program and reaps until it ends.
int start_and_reap(const jaild::ReaperCommand& program) {
    // jaild cleared close-on-exec on the report channel to hand it to us; the program must not inherit it.
    if (syscall6(__NR_fcntl, jaild::child_report_fd, F_SETFD, FD_CLOEXEC) != 0) return 2;
    alignas(16) char child_stack[8192];
    return jaild::reaper_loop::start_and_reap<RawSys>(program, child_stack + sizeof child_stack) ? 0 : 127;
}

// PID 1 of a sandbox whose program a zygote forked into it (zygote_abi.h, AdoptMessage): the program is not
// our child but the zygote's (or jaild's, should the zygote die first), and its parent reports how it
// ended. Reaps whatever else ends in the namespace (the program's orphans) until the program has ended, and
// reports the program's status only in case it was ever ours to reap.
int adopt(int program) {
    // The program is the zygote's child, already running as its uid: from here on no id of ours is its.
    if (const long rc = RawSys::become_own(); rc < 0) fail(jaild::Stage::credentials, -rc);
    for (int fd = 0; fd <= jaild::child_result_fd; ++fd) syscall6(__NR_close, fd);  // the program has its own
    const long pidfd = syscall6(__NR_pidfd_open, program, 0);
    if (pidfd == -ESRCH) return 0;  // already gone, and reaped by the zygote
    if (pidfd < 0) fail(jaild::Stage::reaper, -pidfd);
    // SIGCHLD as a descriptor: the loop below sleeps in poll until a process of ours ends or the program
    // does.
    unsigned long chld = 1UL << (SIGCHLD - 1);
    if (const long rc = syscall6(__NR_rt_sigprocmask, SIG_BLOCK, as_long(&chld), 0, sizeof chld); rc < 0)
        fail(jaild::Stage::reaper, -rc);
    const long sigfd = syscall6(__NR_signalfd4, -1, as_long(&chld), sizeof chld, O_CLOEXEC);
    if (sigfd < 0) fail(jaild::Stage::reaper, -sigfd);
    struct {
        int fd;
        short events, revents;
    } fds[2] = {{static_cast<int>(pidfd), 1, 0}, {static_cast<int>(sigfd), 1, 0}};  // POLLIN
    for (;;) {
        int status = 0;
        long ended;
        while ((ended = syscall6(__NR_wait4, -1, as_long(&status), WNOHANG | __WALL, 0)) > 0) {
            if (ended == program) {
                report({jaild::ChildReport::exited, jaild::Stage::none, 0, 0, status});
                return 0;
            }
        }
        if (fds[0].revents != 0) return 0;  // the program ended as the zygote's child
        while (syscall6(__NR_poll, as_long(fds), 2, -1) == -EINTR) {
        }
        if (fds[1].revents != 0) {
            char info[128];
            syscall6(__NR_read, sigfd, as_long(info), sizeof info);
        }
    }
}

// A warm sandbox's PID 1: waits for the start message (child_abi.h), applies its limits and working
// directory, then starts the program as a cold reaper does.
int warm_reaper(char* strings_begin, char* strings_end) {
    // Our ids are settled (settle_ids): a zygote's child may now join as the program (reaper_settled.h).
    report({jaild::ChildReport::settled, jaild::Stage::none, 0, 0, 0});
    // Room for the largest message and a pointer per byte of it; only the pages touched are ever faulted in.
    constexpr std::size_t kMessage = jaild::warm_start_max_bytes;
    constexpr std::size_t kWords = jaild::warm_start_max_bytes + 1;
    constexpr std::size_t kBytes = kMessage + kWords * sizeof(char*);
    const long buffer = syscall6(__NR_mmap, 0, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer < 0 && buffer > -4096) fail(jaild::Stage::reaper, -buffer);
    char* const message = reinterpret_cast<char*>(buffer);
    char** const words = reinterpret_cast<char**>(message + kMessage);

    // MSG_TRUNC (its value from the socket ABI; the kernel's headers leave it to the C library): the
    // message's real length, so that one larger than the buffer is refused, not cut.
    constexpr long kMsgTrunc = 0x20;
    long size;
    while ((size = syscall6(__NR_recvfrom, jaild::child_report_fd, buffer, kMessage, kMsgTrunc, 0, 0)) == -EINTR) {
    }
    if (size == 0) return 0;  // jaild discarded this sandbox
    if (size < 0) fail(jaild::Stage::reaper, -size);
    if (static_cast<std::size_t>(size) > kMessage) fail(jaild::Stage::reaper, EMSGSIZE);
    if (static_cast<std::size_t>(size) == sizeof(jaild::AdoptMessage)) {
        const auto* adoption = reinterpret_cast<const jaild::AdoptMessage*>(message);
        if (adoption->magic != jaild::AdoptMessage::expected_magic) fail(jaild::Stage::reaper, EINVAL);
        wipe_command_line(strings_begin, strings_end);
        return adopt(adoption->pid);
    }
    jaild::WarmStart start;
    if (!jaild::parse_warm_start(message, static_cast<std::size_t>(size), words, kWords, start))
        fail(jaild::Stage::reaper, EINVAL);
    for (std::size_t i = 0; i < start.rlimit_count; ++i) {
        const auto& limit = start.rlimits[i];
        const unsigned long long value[2] = {limit.soft, limit.hard};
        const long rc = syscall6(__NR_prlimit64, 0, limit.resource, as_long(value), 0);
        if (rc < 0) fail(jaild::Stage::rlimits, -rc, limit.resource);
    }
    if (const long rc = syscall6(__NR_chdir, as_long(start.cwd)); rc < 0) fail(jaild::Stage::cwd, -rc);
    // Only now: "jaild-reaper warm" is what names a sandbox still waiting (the tests tell them apart by it).
    wipe_command_line(strings_begin, strings_end);
    return start_and_reap(start.command);
}

// argv, its text copied to pages of our own (pointers first, then the text): the program starts from the
// copy, so that the original, which /proc/1/cmdline shows, can be wiped first. Null when mmap fails.
char** private_copy(int argc, char** argv, char* strings_begin, char* strings_end) {
    const auto text = static_cast<unsigned long>(strings_end - strings_begin);
    const unsigned long bytes = (static_cast<unsigned long>(argc) + 1) * sizeof(char*) + text;
    const long memory =
        syscall6(__NR_mmap, 0, static_cast<long>(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory < 0 && memory > -4096) return nullptr;
    char** const copy = reinterpret_cast<char**>(memory);
    char* const copied_text = reinterpret_cast<char*>(copy + argc + 1);
    for (unsigned long i = 0; i < text; ++i) copied_text[i] = strings_begin[i];
    for (int i = 0; i < argc; ++i) {
        const bool in_text = argv[i] >= strings_begin && argv[i] < strings_end;  // argv[0] is before it
        copy[i] = in_text ? copied_text + (argv[i] - strings_begin) : argv[i];
    }
    copy[argc] = nullptr;
    return copy;
}

int reaper(int argc, char** argv) {
    // Not what jaild starts (PID 1 of a sandbox, or in chroot mode a child subreaper): refuse rather than reap
    // a stranger. (gVisor cannot tell: it refuses the question with EINVAL.)
    int subreaper = 0;
    if (syscall6(__NR_getpid) != 1) {
        const long asked = syscall6(__NR_prctl, PR_GET_CHILD_SUBREAPER, as_long(&subreaper));
        if ((asked == 0 && subreaper == 0) || (asked != 0 && asked != -EINVAL)) return 2;
    }
    if (argc < 2) return 2;
    settle_ids();
    // The strings' extent before parsing rewrites a pointer: the kernel lays them out one after another.
    char* const strings_begin = argv[1];
    char* strings_end = argv[argc - 1];
    while (*strings_end != '\0') ++strings_end;
    ++strings_end;
    const char* first = argv[1];
    if (argc == 2 && first[0] == 'w' && first[1] == 'a' && first[2] == 'r' && first[3] == 'm' && first[4] == '\0')
        return warm_reaper(strings_begin, strings_end);
    char** const copy = private_copy(argc, argv, strings_begin, strings_end);
    if (copy == nullptr) fail(jaild::Stage::reaper, ENOMEM);
    jaild::ReaperCommand program;
    if (!jaild::parse_reaper_command_line(argc, copy, program)) return 2;
    wipe_command_line(strings_begin, strings_end);
    return start_and_reap(program);
}

}  // namespace

// The entry point the kernel jumps to: argc at the stack pointer, then argv. The stack is aligned for the
// call as the ABI wants it.
extern "C" [[noreturn]] void reaper_start(long* stack) {
    exit_now(reaper(static_cast<int>(stack[0]), reinterpret_cast<char**>(stack + 1)));
}

__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "    xor %rbp, %rbp\n"
    "    mov %rsp, %rdi\n"
    "    and $-16, %rsp\n"
    "    call reaper_start\n"
    "    hlt\n");

// The compiler may turn loops into calls of these even in a freestanding build.
extern "C" void* memset(void* to, int value, std::size_t size) {
    auto* out = static_cast<volatile unsigned char*>(to);
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<unsigned char>(value);
    return to;
}

extern "C" void* memcpy(void* to, const void* from, std::size_t size) {
    auto* out = static_cast<volatile unsigned char*>(to);
    const auto* in = static_cast<const unsigned char*>(from);
    for (std::size_t i = 0; i < size; ++i) out[i] = in[i];
    return to;
}
