#include "jaild/sandbox/rlimits.h"

#include <cerrno>

namespace jaild::rlimits {

Table prepare(const Request& r) noexcept {
    // RLIMIT_CPU counts whole seconds per process: SIGXCPU at the soft limit, SIGKILL one second later.
    // jaild also watches the cgroup's CPU usage, which is exact in milliseconds and covers all processes.
    const rlim_t cpu_s = (r.cpu_ms + 999) / 1000;
    const rlim_t address_space = r.address_space_bytes ? r.address_space_bytes : RLIM_INFINITY;
    return {{
        {RLIMIT_CPU, cpu_s, cpu_s + 1},
        {RLIMIT_FSIZE, r.fsize_bytes, r.fsize_bytes},
        {RLIMIT_NOFILE, r.nofile, r.nofile},
        // Counted per real uid; each running sandbox has a uid of its own, so this is per run.
        {RLIMIT_NPROC, r.nproc, r.nproc},
        {RLIMIT_CORE, 0, 0},  // a core dump would write the program's memory outside the limits
        {RLIMIT_STACK, r.stack_bytes, r.stack_bytes},
        {RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024},
        // Mapped, not used: a runtime that reserves much more than it touches (V8, the JVM, Go) needs more.
        {RLIMIT_AS, address_space, address_space},
    }};
}

int apply(const Entry* entries, std::size_t count, int* failed) noexcept {
    for (std::size_t i = 0; i < count; ++i) {
        const rlimit limit{entries[i].soft, entries[i].hard};
        if (::setrlimit(static_cast<__rlimit_resource>(entries[i].resource), &limit) != 0) {
            *failed = entries[i].resource;
            return errno;
        }
    }
    return 0;
}

}  // namespace jaild::rlimits
