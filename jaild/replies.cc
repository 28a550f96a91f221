#include "jaild/replies.h"

namespace jaild {

v1::ErrorCode to_proto(ErrorCode code) {
    switch (code) {
        case ErrorCode::none: return v1::ERROR_CODE_UNSPECIFIED;
        case ErrorCode::invalid_argument: return v1::ERROR_CODE_INVALID_ARGUMENT;
        case ErrorCode::protocol: return v1::ERROR_CODE_PROTOCOL;
        case ErrorCode::permission_denied: return v1::ERROR_CODE_PERMISSION_DENIED;
        case ErrorCode::not_found: return v1::ERROR_CODE_NOT_FOUND;
        case ErrorCode::resource_exhausted: return v1::ERROR_CODE_RESOURCE_EXHAUSTED;
        case ErrorCode::unimplemented: return v1::ERROR_CODE_UNIMPLEMENTED;
        case ErrorCode::internal: return v1::ERROR_CODE_INTERNAL;
        case ErrorCode::unavailable: return v1::ERROR_CODE_UNAVAILABLE;
        case ErrorCode::quota_exceeded: return v1::ERROR_CODE_QUOTA_EXCEEDED;
        case ErrorCode::failed_precondition: return v1::ERROR_CODE_FAILED_PRECONDITION;
        case ErrorCode::already_exists: return v1::ERROR_CODE_ALREADY_EXISTS;
    }
    return v1::ERROR_CODE_INTERNAL;
}

v1::Status to_proto(RunStatus status) {
    switch (status) {
        case RunStatus::ok: return v1::STATUS_OK;
        case RunStatus::runtime_error: return v1::STATUS_RUNTIME_ERROR;
        case RunStatus::timeout: return v1::STATUS_TIMEOUT;
        case RunStatus::memory_limit: return v1::STATUS_MEMORY_LIMIT;
        case RunStatus::output_limit: return v1::STATUS_OUTPUT_LIMIT;
        case RunStatus::internal_error: return v1::STATUS_INTERNAL_ERROR;
        case RunStatus::cancelled: return v1::STATUS_CANCELLED;
    }
    return v1::STATUS_INTERNAL_ERROR;
}

v1::Exit to_proto(const Verdict& verdict) {
    v1::Exit exit;
    exit.set_status(to_proto(verdict.status));
    exit.set_exit_code(verdict.exit_code);
    exit.set_signal(verdict.signal);
    exit.set_signal_name(verdict.signal_name);
    exit.set_wall_ms(verdict.wall_ms);
    exit.set_cpu_ms(verdict.cpu_ms);
    exit.set_memory_kb(verdict.memory_kb);
    exit.set_stdout_truncated(verdict.stdout_truncated);
    exit.set_stderr_truncated(verdict.stderr_truncated);
    exit.set_error(verdict.error);
    exit.set_timeout_kind(verdict.timeout_kind);
    if (!verdict.measured) exit.set_memory_kb_unknown(true);  // Job::run adds how it was isolated
    return exit;
}

v1::Isolation isolation_of(bool cgroups, bool chroot, bool gvisor) {
    v1::Isolation isolation;
    isolation.set_cgroups(cgroups);
    isolation.set_memory(cgroups ? "cgroup" : "rlimit_as");
    isolation.set_processes(cgroups ? "cgroup" : "rlimit_nproc");
    isolation.set_cpu(cgroups ? "cgroup" : gvisor ? "proc_watch" : "rlimit_cpu");
    isolation.set_wall(chroot ? "uid_kill" : "pid1_kill");
    isolation.set_memory_peak(cgroups ? "cgroup" : "unknown");
    isolation.set_cpu_usage(cgroups ? "cgroup" : "reaped_rusage");
    isolation.set_root(chroot || gvisor ? "chroot" : "pivot_root");
    isolation.set_namespaces(!chroot);
    isolation.set_runtime(gvisor ? "root_owned" : "read_only");
    isolation.set_reaper_uid(!gvisor);
    return isolation;
}

v1::ServerMessage error_reply(ErrorCode code, std::string_view message, std::string_view field) {
    v1::ServerMessage reply;
    reply.mutable_error()->set_code(to_proto(code));
    reply.mutable_error()->set_message(std::string(message));
    reply.mutable_error()->set_field(std::string(field));
    return reply;
}

}  // namespace jaild
