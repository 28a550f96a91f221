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
    // A zygote's child (enter_sandbox in child.h) joins a sandbox built by jaild instead of cloning one.
    join_namespaces,  // setns into the sandbox's mount, network, IPC, UTS and cgroup namespaces
    dumpable,         // PR_SET_DUMPABLE back to 1, as the execve of a cold run's program sets it
    start,            // reading the run's start (command line, environment, working directory)
};

// One fixed-size record on the report channel (a SOCK_SEQPACKET socket pair: each record one message).
// kind failed: {stage, err, detail}; kind exited: the program's wait status; kind mount_namespace: the first
// record (unless an earlier step failed), carrying the sandbox's mount namespace as an SCM_RIGHTS descriptor
// (err set when the child could not open it); kind settled: a warm sandbox's jaild-reaper no longer holds
// the program's uid as a saved one (reaper_settled.h). EOF without an exited record means the child died
// before it could report.
struct ChildReport {
    enum Kind : std::int32_t { failed = 1, exited = 2, mount_namespace = 3, settled = 4 };
    std::int32_t kind = 0;
    Stage stage = Stage::none;
    std::int32_t err = 0;
    std::int32_t detail = 0;
    std::int32_t wait_status = 0;
};

// The namespaces a sandbox's first process sends with its first record (ChildReport::mount_namespace): the
// mount namespace alone, or all of these in this order when a zygote's child is to enter the sandbox.
inline constexpr std::size_t namespace_count = 6;
inline constexpr const char* namespace_paths[namespace_count] = {"/proc/self/ns/mnt", "/proc/self/ns/pid",
                                                                 "/proc/self/ns/net", "/proc/self/ns/ipc",
                                                                 "/proc/self/ns/uts", "/proc/self/ns/cgroup"};
inline constexpr int namespace_types[namespace_count] = {0x00020000, 0x20000000, 0x40000000,
                                                         0x08000000, 0x04000000, 0x02000000};  // CLONE_NEW*

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

// The start message of a warm sandbox (jaild/sandbox/warm_pool.h). Its first process execs `jaild-reaper warm`,
// which waits on the report channel for this one message: the header, then `word_bytes` of NUL-terminated
// words — the working directory, then the words of the reaper's command line after its name (N PATH_1 …
// ARGC ARG_1 … -- ENV_1 …). The reaper lowers its resource limits to the header's (it runs as the sandbox's
// uid, unprivileged: it cannot raise them), changes to the directory and starts the program as a cold
// reaper does. EOF instead of a message: jaild discards the sandbox, and the reaper exits.
struct WarmStartHeader {
    static constexpr std::uint32_t expected_magic = 0x6a77726d;  // "jwrm"
    struct Limit {
        std::int32_t resource = 0;
        std::uint32_t unused = 0;
        std::uint64_t soft = 0;
        std::uint64_t hard = 0;
    };
    std::uint32_t magic = expected_magic;
    std::uint32_t rlimit_count = 0;
    Limit rlimits[8];
    std::uint64_t word_bytes = 0;
};

// The largest start message, header included (a larger command line starts its sandbox cold, where the
// kernel's own limits on execve apply).
inline constexpr std::size_t warm_start_max_bytes = 128 * 1024;

struct WarmStart {
    const WarmStartHeader::Limit* rlimits = nullptr;
    std::size_t rlimit_count = 0;
    const char* cwd = nullptr;
    ReaperCommand command;
};

// The reaper's side: `message` (size bytes) is rewritten in place; `words` receives pointers into it and
// must have room for `max_words` (one per byte of words is always enough). False when the message is
// malformed.
inline bool parse_warm_start(char* message, std::size_t size, char** words, std::size_t max_words,
                             WarmStart& out) noexcept {
    if (size < sizeof(WarmStartHeader)) return false;
    const auto* header = reinterpret_cast<const WarmStartHeader*>(message);
    if (header->magic != WarmStartHeader::expected_magic) return false;
    if (header->rlimit_count > sizeof header->rlimits / sizeof header->rlimits[0]) return false;
    if (header->word_bytes != size - sizeof(WarmStartHeader) || header->word_bytes == 0) return false;
    char* text = message + sizeof(WarmStartHeader);
    const std::size_t text_size = static_cast<std::size_t>(header->word_bytes);
    if (text[text_size - 1] != '\0') return false;
    std::size_t count = 0;
    for (std::size_t at = 0; at < text_size;) {
        if (count + 1 >= max_words) return false;
        words[count++] = text + at;
        while (text[at] != '\0') ++at;
        ++at;
    }
    words[count] = nullptr;
    if (count > 0x7fffffff || !parse_reaper_command_line(static_cast<int>(count), words, out.command)) return false;
    out.rlimits = header->rlimits;
    out.rlimit_count = header->rlimit_count;
    out.cwd = words[0];
    return out.cwd[0] == '/';
}

}  // namespace jaild
