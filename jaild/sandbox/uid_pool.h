// The pool of sandbox uids, leased in pairs: a running sandbox holds its program's uid P and its reaper's
// uid reaper_uid_of(P) (the sandbox's PID 1, jaild-reaper, which the program must not signal, prlimit or
// trace: docs/security.md). A pair is held by exactly one running sandbox, from before clone() until its
// cgroup is empty and removed, so no two running sandboxes ever share either uid (and RLIMIT_NPROC, which
// counts per uid, counts one run). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace jaild {

// The reaper's uid of the pair whose program uid is `program`: the next uid. Every holder of a program uid
// (the pool's lease, the probe's pair, a test's fixed pair) holds this one with it.
constexpr std::uint32_t reaper_uid_of(std::uint32_t program) { return program + 1; }

// The pool of a range base … base + count - 1 holds all but its last two uids, which stay the host probe's
// pair (jaild --check, which may run beside a live jaild): a range needs at least four.
constexpr std::uint32_t min_uid_count = 4;
constexpr std::uint32_t pool_uid_count(std::uint32_t count) { return count - 2; }
constexpr std::uint32_t probe_uid(std::uint32_t base, std::uint32_t count) { return base + count - 2; }

class UidPool {
public:
    // The uids base … base + count - 1, as count / 2 pairs (an odd last uid stays unused).
    UidPool(std::uint32_t base, std::uint32_t count);

    // A free pair's program uid (base + 2k; its reaper's is reaper_uid_of()), or nothing when every pair is
    // in use. Round-robin, so a released pair is reused last.
    std::optional<std::uint32_t> acquire();
    // Releases the pair of `program` (the value acquire() returned).
    void release(std::uint32_t program);
    // Uids held (two per held pair) and uids in the pool (two per pair), as StatsResponse reports them.
    std::uint32_t in_use() const;
    std::uint32_t size() const { return 2 * pairs(); }
    std::uint32_t pairs() const { return static_cast<std::uint32_t>(used_.size()); }
    std::uint32_t pairs_in_use() const;

private:
    mutable std::mutex mutex_;
    std::uint32_t base_;
    std::vector<bool> used_;  // one per pair
    std::uint32_t next_ = 0;
    std::uint32_t in_use_ = 0;  // pairs
};

}  // namespace jaild
