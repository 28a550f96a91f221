// The sandbox's PID 1 once the sandbox is set up: start the program, reap every process that ends in the
// namespace, and report the program's wait status when it ends (returning then makes PID 1 exit, and the
// kernel kill whatever the program left behind: pid_namespaces(7)). One loop for both PID 1s: jaild-reaper
// (reaper_main.cc, freestanding: raw system calls, no C library) and, when jaild-reaper is missing, the
// sandbox's first process itself (child.cc, over the C library). Header-only and freestanding like
// child_abi.h; each caller supplies its system calls as `Sys`, a type with these static members, each
// returning its result or -errno:
//   long execve(const char* path, char* const* argv, char* const* envp);
//   long spawn(void (*child)(void*), void* arg, char* stack_top);  // CLONE_VM|CLONE_VFORK, child runs child(arg)
//   long become_program();  // setresgid and setresuid to the effective gid and uid in all three slots
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

// The program's process: takes the program's ids whole (PID 1 holds them as its effective ids only, its real
// and saved ones are its own: credentials.h), then execs the first candidate that exists, as execvp does (a
// missing candidate lets the next one try; any other error is the answer), or reports why none could be
// exec'd and exits with 127.
template <class Sys>
[[noreturn]] void exec_program(void* arg) noexcept {
    const auto& program = *static_cast<const ReaperCommand*>(arg);
    if (const long rc = Sys::become_program(); rc < 0) {
        Sys::report({ChildReport::failed, Stage::credentials, static_cast<std::int32_t>(-rc), 0, 0});
        Sys::exit(127);
    }
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

// Starts `program` on `stack_top` (the process shares our memory until its execve, and we are suspended
// meanwhile), then reaps until it ends. False (reported as Stage::fork) when the program's process could not
// be made.
template <class Sys>
bool start_and_reap(const ReaperCommand& program, char* stack_top) noexcept {
    const long pid = Sys::spawn(exec_program<Sys>, const_cast<ReaperCommand*>(&program), stack_top);
    if (pid < 0) {
        Sys::report({ChildReport::failed, Stage::fork, static_cast<std::int32_t>(-pid), 0, 0});
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
