// A validated, immutable description of one run: the sandbox library's input. jaild turns every request
// into a RunPlan first (plan_from_request.h) and re-checks everything the request says (even from our own
// gateway): nothing below the plan sees protobuf.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace jaild {

struct ResolvedLimits {
    std::uint32_t cpu_ms = 0;
    std::uint32_t wall_ms = 0;
    std::uint64_t memory_bytes = 0;
    std::uint64_t fsize_bytes = 0;
    std::uint32_t nofile = 0;
    std::uint32_t nproc = 0;
    std::uint64_t output_bytes = 0;
    std::uint64_t tmp_bytes = 0;
    std::uint64_t stack_bytes = 0;
};

struct PlanFile {
    std::string path;  // relative to /workspace, normalized, never escaping it
    std::string content;
    bool executable = false;
};

struct RunPlan {
    std::string request_id;
    std::string principal;  // who asked (ClientMessage.principal under the peer's uid), for the log
    std::vector<std::string> argv;
    std::vector<std::string> env;  // "KEY=value", defaults merged under the request's
    std::string cwd;
    ResolvedLimits limits;
    std::string stdin_data;
    bool stdin_stream = false;
    std::vector<PlanFile> files;
    // A private channel on the program's fd 3 (a socket pair): `result_input` is written to it and closed,
    // and what the program writes back is its result (the Python runner's answer; see job.cc).
    bool result_channel = false;
    std::string result_input;
    // Host directory bound at /workspace (shared by the steps of one request); empty: a fresh tmpfs.
    std::string workspace_source;
    // Host directory bound at /tmp (a session's, which persists); empty: a fresh tmpfs.
    std::string tmp_source;
    std::string session_id;  // the request's; the connection resolves it (sessions.h)
    // The language whose zygote may start this run warm (zygote.h decides whether it fits); empty: cold.
    std::string zygote;
    // A file of the workspace that is the request's, not the session's (execute's source file): removed
    // before a session keeps the workspace.
    std::string transient_file;
    // Host directories bound at packages_mount and wheelhouse_mount (rootfs.h); empty: none.
    struct Packages {
        std::string env;         // a Python environment (packages.h)
        bool writable = false;   // the install step that builds it; runs get it read-only
        std::string wheelhouse;  // the install step only
    } packages;
    // A live session's sandbox (jaild/live/): fd 3 is a control channel whose parent end the caller takes
    // (Job::take_control) instead of a result, and the sandbox gets its own terminals (/dev/pts).
    bool live = false;
};

inline constexpr const char* sandbox_path_env = "/usr/local/bin:/usr/bin:/bin";
inline constexpr const char* workspace_dir = "/workspace";

}  // namespace jaild
