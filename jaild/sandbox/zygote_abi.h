// What jaild and jaild-zygote (jaild/zygote/) exchange over the socket pair jaild starts the zygote with
// (SOCK_SEQPACKET, the zygote's fd 3): fixed-size records and descriptors, nothing of variable length. The
// zygote never reads what a run executes: the run's command line, environment and working directory travel in
// a memfd (the start fd) that only the zygote's child reads, after it has entered the sandbox (zygote.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "jaild/sandbox/child_abi.h"

namespace jaild {

// The zygote's first record, once its preload is imported: its interpreter's version ("3.11.2"), which jaild
// compares with the language's own, and its pid.
struct ZygoteReady {
    static constexpr std::uint32_t expected_magic = 0x6a7a7279;  // "jzry"
    std::uint32_t magic = expected_magic;
    std::int32_t pid = 0;
    char version[32] = {};
};

// One run. The descriptors come with it (SCM_RIGHTS) in this order: the sandbox's namespaces in the order of
// namespace_paths (child_abi.h; jaild has built the sandbox, whose PID 1 waits in `jaild-reaper warm`), the
// program's stdin, stdout and stderr, the report channel, the start memfd, the result channel when
// `has_result`, then `cgroup_fd_count` cgroup.procs descriptors of the run's cgroup(s).
struct ZygoteRequest {
    static constexpr std::uint32_t expected_magic = 0x6a7a7271;  // "jzrq"
    static constexpr std::size_t first_stdio_fd = namespace_count;
    static constexpr std::size_t fixed_fds = namespace_count + 5;
    static constexpr std::size_t max_cgroup_fds = 6;
    static constexpr std::size_t max_fds = fixed_fds + 1 + max_cgroup_fds;
    std::uint32_t magic = expected_magic;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint32_t rlimit_count = 0;
    WarmStartHeader::Limit rlimits[8] = {};
    std::uint32_t has_result = 0;
    std::uint32_t cgroup_fd_count = 0;
};

// The answer to a request: err 0 and the child's pid (in jaild's PID namespace, which the zygote shares), or
// the errno of what failed (the run then starts cold in the same sandbox).
struct ZygoteReply {
    static constexpr std::uint32_t expected_magic = 0x6a7a7270;  // "jzrp"
    std::uint32_t magic = expected_magic;
    std::int32_t err = 0;
    std::int32_t pid = 0;
};

// What jaild sends a warm sandbox's reaper once the zygote's child is in its PID namespace (instead of the
// start message of child_abi.h): reap until that child, the namespace's PID 2, ends. The child's parent is
// the zygote, which reports its wait status on the report channel; should the zygote die first, the child
// becomes jaild's (jaild is a child subreaper), and its job reaps it and reports its status (job.h).
struct AdoptMessage {
    static constexpr std::uint32_t expected_magic = 0x6a61646f;  // "jado"
    std::uint32_t magic = expected_magic;
    std::int32_t pid = 2;
};

}  // namespace jaild
