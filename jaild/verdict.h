// How a run ended, in words a client reads: a pure function from what the Job saw (RunOutcome) to a
// Verdict. Plain data on both sides, no protocol; replies.h makes the wire Exit from the Verdict.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "jaild/sandbox/child_abi.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

// Why jaild killed a run; the first reason given is the one reported.
enum class KillReason { none, wall_timeout, cpu_timeout, output_limit, cancelled, client_gone, shutdown };

struct RunOutcome {
    std::vector<ChildReport> reports;  // the sandbox's records, in order (child_abi.h)
    std::string setup_failure;         // the first failed report in words (stage_text.h), when there is one
    KillReason killed = KillReason::none;
    bool oom_killed = false;
    int init_code = 0;    // how the sandbox's PID 1 ended: siginfo_t's si_code (CLD_EXITED, CLD_KILLED, ...)
    int init_status = 0;  // and si_status (its exit code or signal)
    std::uint64_t wall_ms = 0;
    std::uint64_t cpu_ms = 0;
    std::uint64_t memory_kb = 0;
    // false: no cgroup measured the run (degraded mode): cpu_ms is the reaped processes' rusage, memory_kb
    // is unknown.
    bool measured = true;
    bool stdout_truncated = false;
    bool stderr_truncated = false;
};

enum class RunStatus { ok, runtime_error, timeout, memory_limit, output_limit, internal_error, cancelled };

struct Verdict {
    RunStatus status = RunStatus::ok;
    int exit_code = 0;  // 128 + signal when killed by one, as a shell reports it
    int signal = 0;
    std::string signal_name;   // "SIGKILL"; empty when none
    std::string error;         // why not ok
    std::string timeout_kind;  // "cpu" or "wall" when status is timeout
    std::uint64_t wall_ms = 0;
    std::uint64_t cpu_ms = 0;
    std::uint64_t memory_kb = 0;
    bool measured = true;  // as RunOutcome's: false in degraded mode
    bool stdout_truncated = false;
    bool stderr_truncated = false;
};

// `plan` gives the limits and the program and directory the words name.
Verdict classify(const RunOutcome& outcome, const RunPlan& plan);

}  // namespace jaild
