// The sandbox's PID 1 once the sandbox is set up: start the program, reap every process that ends in the
// namespace, and report the program's wait status when it ends (returning then makes PID 1 exit, and the
// kernel kill whatever the program left behind: pid_namespaces(7)). One loop for both PID 1s: jaild-reaper
// (reaper_main.cc, freestanding: raw system calls, no C library) and, when jaild-reaper is missing, the
// sandbox's first process itself (child.cc, over the C library). Header-only and freestanding like
// child_abi.h; each caller supplies its system calls as `Sys`, a type with these static members, each
// returning its result or -errno:
//   long execve(const char* path, char* const* argv, char* const* envp);
//   long spawn(void (*child)(void*), void* arg, char* stack_top);  // CLONE_VM (no CLONE_VFORK): child(arg)
//   long become_program();  // setresgid and setresuid to the effective gid and uid in all three slots
//   long become_own();      // effective gid and uid back to the real ones (ours, not the program's)
//   void wait_word(std::uint32_t* word);  // futex wait while *word is 0 (may return early: callers loop)
//   void wake_word(std::uint32_t* word);  // futex wake of the waiter
//   long close(int fd);
//   long wait_any(int* status);  // wait4(-1, status, __WALL)
//   void report(const ChildReport& record);  // one record on the report channel
//   [[noreturn]] void exit(int code);
#pragma once

#include <cstddef>
#include <cstdint>

#include "jaild/sandbox/child_abi.h"

namespace jaild::reaper_loop {

// errno values the loop tests (from the kernel's ABI; this header includes no C library header).
inline constexpr long kENOENT = 2;
inline constexpr long kECHILD = 10;
inline constexpr long kENOTDIR = 20;

// What the program's process reads from our memory, which it shares until its execve.
struct ProgramStart {
    const ReaperCommand* program;
    // 0 until PID 1 holds only its own ids again (then 1: go on), or could not (2: end without exec).
    std::uint32_t go;
};

// The program's process: takes the program's ids whole (PID 1 holds them as its effective ids only, its real
// and saved ones are its own: credentials.h), waits until PID 1 has taken its own effective ids back (so that
// no instant exists in which the program runs and PID 1 still acts as its uid, which setpriority(2) and
// sched_setaffinity(2) would accept), then execs the first candidate that exists, as execvp does (a missing
// candidate lets the next one try; any other error is the answer), or reports why none could be exec'd and
// exits with 127.
template <class Sys>
[[noreturn]] void exec_program(void* arg) noexcept {
    auto& start = *static_cast<ProgramStart*>(arg);
    const ReaperCommand& program = *start.program;
    if (const long rc = Sys::become_program(); rc < 0) {
        Sys::report({ChildReport::failed, Stage::credentials, static_cast<std::int32_t>(-rc), 0, 0});
        Sys::exit(127);
    }
    std::uint32_t go = 0;
    while ((go = __atomic_load_n(&start.go, __ATOMIC_ACQUIRE)) == 0) Sys::wait_word(&start.go);
    if (go != 1) Sys::exit(127);  // PID 1 reported why
    long first_error = -kENOENT;
    for (std::size_t i = 0; i < program.path_count; ++i) {
        const long rc = Sys::execve(program.paths[i], program.argv, program.envp);
        if (rc != -kENOENT && rc != -kENOTDIR) {
            first_error = rc;
            break;
        }
    }
    Sys::report({ChildReport::failed, Stage::exec, static_cast<std::int32_t>(-first_error), 0, 0});
    Sys::exit(127);
}

// Starts `program` on `stack_top` (the process shares our memory until its execve; it waits for us to hold our
// own ids before it execs), then reaps until it ends. False (reported as Stage::fork) when the program's process could
// not be made, or (Stage::credentials) when we could not take our own ids back after it.
template <class Sys>
bool start_and_reap(const ReaperCommand& program, char* stack_top) noexcept {
    ProgramStart start{&program, 0};
    const long pid = Sys::spawn(exec_program<Sys>, &start, stack_top);
    if (pid < 0) {
        Sys::report({ChildReport::failed, Stage::fork, static_cast<std::int32_t>(-pid), 0, 0});
        return false;
    }
    // The program's process has its ids: we no longer act as its uid. With all our ids our own, none of the
    // program's processes may renice, reschedule or re-pin us either (those compare our effective uid). Should
    // that fail, we end, and the namespace with us, rather than run touchable.
    const long own = Sys::become_own();
    __atomic_store_n(&start.go, own < 0 ? 2u : 1u, __ATOMIC_RELEASE);
    Sys::wake_word(&start.go);
    if (own < 0) {
        Sys::report({ChildReport::failed, Stage::credentials, static_cast<std::int32_t>(-own), 0, 0});
        return false;
    }
    // jaild sees EOF on the program's stdio and result channel only when the program's processes are gone.
    for (int fd = 0; fd <= child_result_fd; ++fd) Sys::close(fd);
    for (;;) {
        int status = 0;
        const long ended = Sys::wait_any(&status);
        if (ended == pid) {
            Sys::report({ChildReport::exited, Stage::none, 0, 0, status});
            return true;
        }
        if (ended == -kECHILD) return true;
    }
}

}  // namespace jaild::reaper_loop
