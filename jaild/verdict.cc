#include "jaild/verdict.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <cstring>

namespace jaild {

namespace {

std::string signal_name(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

void set_signal(Verdict& verdict, int sig) {
    verdict.signal = sig;
    verdict.signal_name = signal_name(sig);
    verdict.exit_code = 128 + sig;
}

// The program's exit code or signal: from the reaper's report, or SIGKILL when jaild killed the reaper
// before it could report.
void set_exit(Verdict& verdict, const ChildReport* exited, KillReason killed) {
    if (exited) {
        const int status = exited->wait_status;
        if (WIFEXITED(status))
            verdict.exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            set_signal(verdict, WTERMSIG(status));
    } else if (killed != KillReason::none) {
        set_signal(verdict, SIGKILL);
    }
}

void set(Verdict& verdict, RunStatus status, std::string error) {
    verdict.status = status;
    verdict.error = std::move(error);
}

// The limits and jaild's own kills, which explain a death before the program's own exit does.
bool limit_or_kill(Verdict& v, const RunOutcome& outcome, const ResolvedLimits& limits) {
    const KillReason killed = outcome.killed;
    const bool cpu_signal = v.signal == SIGXCPU || (v.signal == SIGKILL && v.cpu_ms >= limits.cpu_ms);
    if (killed == KillReason::wall_timeout) {
        set(v, RunStatus::timeout, "wall-clock time limit of " + std::to_string(limits.wall_ms) + " ms exceeded");
        v.timeout_kind = "wall";
    } else if (killed == KillReason::cpu_timeout || (killed == KillReason::none && cpu_signal)) {
        set(v, RunStatus::timeout, "CPU time limit of " + std::to_string(limits.cpu_ms) + " ms exceeded");
        v.timeout_kind = "cpu";
    } else if (killed == KillReason::output_limit) {
        set(v, RunStatus::output_limit,
            "output limit of " + std::to_string(limits.output_bytes) + " bytes per stream exceeded");
    } else if (killed == KillReason::cancelled || killed == KillReason::client_gone) {
        set(v, RunStatus::cancelled, "cancelled by the client");
    } else if (killed == KillReason::shutdown) {
        set(v, RunStatus::internal_error, "jaild is shutting down");
    } else if (outcome.oom_killed) {
        set(v, RunStatus::memory_limit,
            "memory limit of " + std::to_string(limits.memory_bytes / 1024) + " KiB exceeded");
    } else {
        return false;
    }
    return true;
}

// A setup stage that failed: jaild's fault, except the program's own exec and cwd, which are the request's.
void failed_setup(Verdict& v, const ChildReport& failure, const std::string& text, const RunPlan& plan) {
    if (failure.stage != Stage::exec && failure.stage != Stage::cwd) {
        set(v, RunStatus::internal_error, "sandbox setup failed at " + text);
        v.exit_code = -1;
        return;
    }
    const std::string program = plan.argv.empty() ? std::string() : plan.argv.front();
    const std::string what = failure.stage == Stage::exec ? "cannot execute \"" + program + "\""
                                                          : "cannot change directory to \"" + plan.cwd + "\"";
    set(v, RunStatus::runtime_error, what + ": " + std::strerror(failure.err));
    v.exit_code = 127;
}

}  // namespace

Verdict classify(const RunOutcome& outcome, const RunPlan& plan) {
    Verdict v;
    v.wall_ms = outcome.wall_ms;
    v.cpu_ms = outcome.cpu_ms;
    v.memory_kb = outcome.memory_kb;
    v.measured = outcome.measured;
    v.stdout_truncated = outcome.stdout_truncated;
    v.stderr_truncated = outcome.stderr_truncated;

    const ChildReport* failure = nullptr;
    const ChildReport* exited = nullptr;
    for (const ChildReport& r : outcome.reports) {
        if (r.kind == ChildReport::failed && !failure) failure = &r;
        if (r.kind == ChildReport::exited) exited = &r;
    }
    set_exit(v, exited, outcome.killed);

    if (failure) {
        failed_setup(v, *failure, outcome.setup_failure, plan);
    } else if (limit_or_kill(v, outcome, plan.limits)) {
        // a limit or jaild's own kill explains the end
    } else if (!exited) {
        set(v, RunStatus::internal_error,
            std::string("the sandbox ended without reporting the program's exit (its init ") +
                (outcome.init_code == CLD_EXITED ? "exited with " : "was killed by signal ") +
                std::to_string(outcome.init_status) + ")");
    } else if (v.signal != 0) {
        set(v, RunStatus::runtime_error, "killed by " + v.signal_name);
    } else if (v.exit_code != 0) {
        set(v, RunStatus::runtime_error, "exited with code " + std::to_string(v.exit_code));
    }
    return v;
}

}  // namespace jaild
