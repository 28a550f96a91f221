// classify: how a run ended, from what the Job saw, as a table; and the wire Exit made from a Verdict.
#include "jaild/verdict.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "jaild/replies.h"
#include "jaild/sandbox/stage_text.h"

using namespace jaild;

namespace {

ChildReport exited_with(int wait_status) {
    ChildReport r;
    r.kind = ChildReport::exited;
    r.wait_status = wait_status;
    return r;
}

ChildReport failed_at(Stage stage, int err) {
    ChildReport r;
    r.kind = ChildReport::failed;
    r.stage = stage;
    r.err = err;
    return r;
}

RunPlan plan() {
    RunPlan p;
    p.argv = {"/usr/bin/prog"};
    p.cwd = "/workspace/dir";
    p.limits.cpu_ms = 1000;
    p.limits.wall_ms = 2000;
    p.limits.output_bytes = 4096;
    p.limits.memory_bytes = 64 * 1024 * 1024;
    return p;
}

struct Row {
    const char* name;
    RunOutcome outcome;
    RunStatus status;
    int exit_code;
    int signal;
    std::string error;
    std::string timeout_kind;
};

}  // namespace

TEST_CASE("classify turns a run's outcome into its verdict", "[unit][verdict]") {
    const int killed_by_kill = SIGKILL;  // a wait status of a process killed by SIGKILL
    const std::vector<Row> rows{
        {"exit 0", {.reports = {exited_with(0)}, .cpu_ms = 10}, RunStatus::ok, 0, 0, "", ""},
        {"exit 3", {.reports = {exited_with(3 << 8)}}, RunStatus::runtime_error, 3, 0, "exited with code 3", ""},
        {"killed by SIGSEGV",
         {.reports = {exited_with(SIGSEGV)}},
         RunStatus::runtime_error,
         128 + SIGSEGV,
         SIGSEGV,
         "killed by SIGSEGV",
         ""},
        {"wall-clock kill, no report",
         {.killed = KillReason::wall_timeout},
         RunStatus::timeout,
         128 + SIGKILL,
         SIGKILL,
         "wall-clock time limit of 2000 ms exceeded",
         "wall"},
        {"CPU watch kill",
         {.killed = KillReason::cpu_timeout},
         RunStatus::timeout,
         128 + SIGKILL,
         SIGKILL,
         "CPU time limit of 1000 ms exceeded",
         "cpu"},
        {"SIGXCPU from the rlimit",
         {.reports = {exited_with(SIGXCPU)}},
         RunStatus::timeout,
         128 + SIGXCPU,
         SIGXCPU,
         "CPU time limit of 1000 ms exceeded",
         "cpu"},
        {"SIGKILL at the CPU limit",
         {.reports = {exited_with(killed_by_kill)}, .cpu_ms = 1000},
         RunStatus::timeout,
         128 + SIGKILL,
         SIGKILL,
         "CPU time limit of 1000 ms exceeded",
         "cpu"},
        {"SIGKILL under the CPU limit",
         {.reports = {exited_with(killed_by_kill)}, .cpu_ms = 999},
         RunStatus::runtime_error,
         128 + SIGKILL,
         SIGKILL,
         "killed by SIGKILL",
         ""},
        {"output limit",
         {.reports = {exited_with(0)}, .killed = KillReason::output_limit, .stdout_truncated = true},
         RunStatus::output_limit,
         0,
         0,
         "output limit of 4096 bytes per stream exceeded",
         ""},
        {"cancelled",
         {.killed = KillReason::cancelled},
         RunStatus::cancelled,
         137,
         SIGKILL,
         "cancelled by the client",
         ""},
        {"client gone",
         {.killed = KillReason::client_gone},
         RunStatus::cancelled,
         137,
         SIGKILL,
         "cancelled by the client",
         ""},
        {"shutdown",
         {.killed = KillReason::shutdown},
         RunStatus::internal_error,
         137,
         SIGKILL,
         "jaild is shutting down",
         ""},
        {"out of memory",
         {.reports = {exited_with(killed_by_kill)}, .oom_killed = true},
         RunStatus::memory_limit,
         137,
         SIGKILL,
         "memory limit of 65536 KiB exceeded",
         ""},
        {"a kill reason wins over the OOM killer",
         {.killed = KillReason::wall_timeout, .oom_killed = true},
         RunStatus::timeout,
         137,
         SIGKILL,
         "wall-clock time limit of 2000 ms exceeded",
         "wall"},
        {"setup failure",
         {.reports = {failed_at(Stage::seccomp, EINVAL)}, .setup_failure = "seccomp: Invalid argument"},
         RunStatus::internal_error,
         -1,
         0,
         "sandbox setup failed at seccomp: Invalid argument",
         ""},
        {"setup failure wins over a kill",
         {.reports = {failed_at(Stage::mounts, EPERM)}, .setup_failure = "mounts: x", .killed = KillReason::cancelled},
         RunStatus::internal_error,
         -1,
         SIGKILL,
         "sandbox setup failed at mounts: x",
         ""},
        {"exec failure is the program's",
         {.reports = {failed_at(Stage::exec, ENOENT)}},
         RunStatus::runtime_error,
         127,
         0,
         "cannot execute \"/usr/bin/prog\": No such file or directory",
         ""},
        {"cwd failure is the request's",
         {.reports = {failed_at(Stage::cwd, ENOTDIR)}},
         RunStatus::runtime_error,
         127,
         0,
         "cannot change directory to \"/workspace/dir\": Not a directory",
         ""},
        {"init exited without a report",
         {.init_code = CLD_EXITED, .init_status = 3},
         RunStatus::internal_error,
         0,
         0,
         "the sandbox ended without reporting the program's exit (its init exited with 3)",
         ""},
        {"init killed without a report",
         {.init_code = CLD_KILLED, .init_status = SIGKILL},
         RunStatus::internal_error,
         0,
         0,
         "the sandbox ended without reporting the program's exit (its init was killed by signal 9)",
         ""},
    };
    for (const Row& row : rows) {
        INFO(row.name);
        const Verdict v = classify(row.outcome, plan());
        CHECK(v.status == row.status);
        CHECK(v.exit_code == row.exit_code);
        CHECK(v.signal == row.signal);
        CHECK(v.error == row.error);
        CHECK(v.timeout_kind == row.timeout_kind);
        CHECK(v.stdout_truncated == row.outcome.stdout_truncated);
        CHECK(v.cpu_ms == row.outcome.cpu_ms);
    }
}

TEST_CASE("a setup stage's failure text names the stage, what failed in it and the errno", "[unit][verdict]") {
    CHECK(stage_failure_text(failed_at(Stage::seccomp, EINVAL)) == "seccomp: Invalid argument");
    CHECK(stage_failure_text(failed_at(Stage::mounts, EACCES), "bind /usr (from /usr)") ==
          "mounts: bind /usr (from /usr): Permission denied");
    ChildReport rlimit = failed_at(Stage::rlimits, EPERM);
    rlimit.detail = RLIMIT_NPROC;
    CHECK(stage_failure_text(rlimit) ==
          "rlimits (resource " + std::to_string(RLIMIT_NPROC) + "): Operation not permitted");
}

TEST_CASE("a verdict becomes the wire Exit field for field", "[unit][verdict]") {
    Verdict v;
    v.status = RunStatus::timeout;
    v.exit_code = 137;
    v.signal = SIGKILL;
    v.signal_name = "SIGKILL";
    v.error = "wall-clock time limit of 2000 ms exceeded";
    v.timeout_kind = "wall";
    v.wall_ms = 2001;
    v.cpu_ms = 5;
    v.memory_kb = 1024;
    v.stderr_truncated = true;
    const v1::Exit exit = to_proto(v);
    CHECK(exit.status() == v1::STATUS_TIMEOUT);
    CHECK(exit.exit_code() == 137);
    CHECK(exit.signal() == SIGKILL);
    CHECK(exit.signal_name() == "SIGKILL");
    CHECK(exit.error() == v.error);
    CHECK(exit.timeout_kind() == "wall");
    CHECK(exit.wall_ms() == 2001);
    CHECK(exit.cpu_ms() == 5);
    CHECK(exit.memory_kb() == 1024);
    CHECK(!exit.stdout_truncated());
    CHECK(exit.stderr_truncated());
    CHECK(to_proto(RunStatus::ok) == v1::STATUS_OK);
    CHECK(to_proto(RunStatus::cancelled) == v1::STATUS_CANCELLED);
    CHECK(to_proto(RunStatus::memory_limit) == v1::STATUS_MEMORY_LIMIT);
    CHECK(to_proto(ErrorCode::quota_exceeded) == v1::ERROR_CODE_QUOTA_EXCEEDED);
    CHECK(to_proto(ErrorCode::not_found) == v1::ERROR_CODE_NOT_FOUND);
    const v1::ServerMessage reply = error_reply(ErrorCode::invalid_argument, "bad", "field");
    CHECK(reply.error().code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK(reply.error().message() == "bad");
    CHECK(reply.error().field() == "field");
}
