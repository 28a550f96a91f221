// jailctl as a user or a script runs it: a real build/bin/jailctl process, its stdin fed, its stdout and
// stderr collected, its exit status and peak memory reported.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace jaild::test {

struct JailctlCall {
    std::vector<std::string> args;  // after the program name
    std::string socket;             // JAILD_SOCKET in its environment ("": the test's own)
    std::string input;              // written to its stdin (a pipe), then EOF
    std::string stdin_path;         // instead of `input`: this file (or FIFO) as its stdin
    std::string stdout_path;        // its stdout into this file instead of Jailctl::out
    uid_t uid = 0;                  // not root: run as that user (see Launch)
    std::string program = bin("jailctl");
    std::chrono::milliseconds timeout = std::chrono::seconds(60);  // then SIGKILL
};

struct Jailctl {
    int exit_code = -1;  // -1: killed by a signal or timed out
    int signal = 0;      // the signal that ended it, 0 when it exited
    bool timed_out = false;
    std::string out, err;
    long peak_kb = 0;  // its peak resident memory (ru_maxrss), in KiB
};

// Runs jailctl as `call` says and waits for it (at most call.timeout).
Jailctl run_jailctl(const JailctlCall& call);

}  // namespace jaild::test
