// Resource limits (setrlimit) of one run. The parent builds the table from the plan; the child applies it.
#pragma once

#include <sys/resource.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace jaild::rlimits {

struct Entry {
    int resource;
    rlim_t soft;
    rlim_t hard;
};

struct Request {
    std::uint32_t cpu_ms;
    std::uint64_t fsize_bytes;
    std::uint32_t nofile;
    std::uint32_t nproc;
    std::uint64_t stack_bytes;
    // RLIMIT_AS, each process's virtual address space: degraded mode's memory limit (no cgroup). 0: none.
    std::uint64_t address_space_bytes = 0;
};

inline constexpr std::size_t table_size = 8;
using Table = std::array<Entry, table_size>;

// Parent: the table for one run.
Table prepare(const Request& request) noexcept;

// Child: applies every entry; on failure returns errno and sets *failed to the resource.
int apply(const Entry* entries, std::size_t count, int* failed) noexcept;

}  // namespace jaild::rlimits
