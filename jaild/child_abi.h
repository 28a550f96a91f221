// What jaild, the sandbox's first process and jaild-reaper agree on: the setup steps, the report record, the
// descriptors the first process arranges, and the reaper's command line. Freestanding: jaild-reaper is built
// without a C library (jaild/CMakeLists.txt), so this header uses nothing but the language.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jaild {

// The setup steps in the order the child runs them. docs/security.md describes each, one for one.
enum class Stage : std::int32_t {
    none = 0,
    cgroup_attach,      // join the job's cgroup(s) (v1: write to cgroup.procs)
    cgroup_namespace,   // new cgroup namespace rooted at the job's cgroup
    network_namespace,  // setns into a fresh network namespace prepared ahead (NetnsPool)
    parent_death,       // PR_SET_PDEATHSIG so a dying jaild takes the sandbox with it
    file_descriptors,   // stdio onto the pipes, every other inherited fd closed
    mount_private,      // stop mount propagation to and from the host
    mounts,             // build the new root (detail = index of the failing mount)
    pivot_root,         // switch to it and detach the old root
    root_readonly,      // remount the new root read-only
    hostname,
    loopback,      // bring up lo inside the empty network namespace
    rlimits,       // detail = resource number
    securebits,    // lock the capability rules before leaving root
    bounding_set,  // drop every capability from the bounding set
    credentials,   // setgroups/setresgid/setresuid to the job's uid
    capabilities,  // clear permitted/effective/inheritable/ambient
    no_new_privs,
    cwd,
    seccomp,
    reaper,  // the first process execs jaild-reaper (when it shares jaild's memory it cannot stay)
    fork,    // the reaper starts the program
    exec,    // execve of the program (exec failures are the program's, exit code 127)
};

// One fixed-size record on the report channel (a SOCK_SEQPACKET socket pair: each record one message).
// kind failed: {stage, err, detail}; kind exited: the program's wait status; kind mount_namespace: the first
// record (unless an earlier step failed), carrying the sandbox's mount namespace as an SCM_RIGHTS descriptor
// (err set when the child could not open it). EOF without an exited record means the child died before it
// could report.
struct ChildReport {
    enum Kind : std::int32_t { failed = 1, exited = 2, mount_namespace = 3 };
    std::int32_t kind = 0;
    Stage stage = Stage::none;
    std::int32_t err = 0;
    std::int32_t detail = 0;
    std::int32_t wait_status = 0;
};

// The child's descriptors once it has arranged them: the result channel (when the program has one), the
// report channel (close-on-exec) and the jaild-reaper binary to exec, which starts the program (close-on-exec).
inline constexpr int child_result_fd = 3;
inline constexpr int child_report_fd = 4;
inline constexpr int child_reaper_fd = 5;

// jaild-reaper's command line (ReaperCommand::build in program_start.h), which carries the program's start;
// the reaper has no environment of its own:
//   jaild-reaper N PATH_1 … PATH_N ARGC ARG_1 … ARG_ARGC -- ENV_1 … ENV_M
struct ReaperCommand {
    const char* const* paths = nullptr;  // candidates for argv[0], tried in order as execvp does
    std::size_t path_count = 0;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
};

namespace detail {
// A count: decimal digits only, no sign, no leading zero, at most `limit`.
inline bool parse_count(const char* text, long limit, long& out) noexcept {
    if (text[0] < '0' || text[0] > '9' || (text[0] == '0' && text[1] != '\0')) return false;
    long value = 0;
    for (const char* p = text; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') return false;
        value = value * 10 + (*p - '0');
        if (value > limit) return false;
    }
    out = value;
    return true;
}
}  // namespace detail

// The reaper's side: points `out` into argv, null-terminating the program's argv in place (where "--" was).
// False when argv is not such a command line.
inline bool parse_reaper_command_line(int argc, char** argv, ReaperCommand& out) noexcept {
    long paths = 0;
    long args = 0;
    if (argc < 2 || !detail::parse_count(argv[1], argc - 2, paths) || paths == 0) return false;
    const long args_at = 2 + paths;
    if (args_at >= argc || !detail::parse_count(argv[args_at], argc - args_at - 1, args) || args == 0) return false;
    const long separator = args_at + 1 + args;
    if (separator >= argc) return false;
    const char* word = argv[separator];
    if (word[0] != '-' || word[1] != '-' || word[2] != '\0') return false;
    out.paths = argv + 2;
    out.path_count = static_cast<std::size_t>(paths);
    out.argv = argv + args_at + 1;
    argv[separator] = nullptr;
    out.envp = argv + separator + 1;
    return true;
}

}  // namespace jaild
