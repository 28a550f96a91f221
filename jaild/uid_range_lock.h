// Two jailds on one host must never hand out the same sandbox uid. Each holds, for its whole life, a lock on
// its uid range in one host-wide file (kUidLockFile, under /run/lock: not the configurable run_dir, which two
// jailds may set apart). The locks are open-file-description byte-range locks (fcntl F_OFD_SETLK) whose bytes
// are the uids, so two ranges overlap exactly when the kernel finds the locks in conflict, and a lock goes with
// its holder however it ends (kill -9 included): no stale state to clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/unique_fd.h"

namespace jaild {

inline constexpr const char* kUidLockFile = "/run/lock/jaild-uids";

// How long a starting jaild waits for a lock or socket still held before it refuses. A jaild killed a moment
// ago may leave, for that moment, cloned children between clone and execve that hold copies of its
// descriptors (the lock's file description, the listening socket); they die with it.
inline constexpr std::chrono::seconds kPredecessorGrace{3};

struct UidRangeTaken : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class UidRangeLock {
public:
    // Locks uids [base, base + count) in `lock_file` (made 0644 if missing) and records `socket` beside it
    // (`lock_file`.d/<base>) for a later jaild to name. Waits up to kPredecessorGrace, then throws UidRangeTaken naming
    // the holder's socket, pid and range when the range overlaps one held; std::runtime_error when the file cannot be
    // used.
    UidRangeLock(std::uint32_t base, std::uint32_t count, const std::string& socket,
                 const std::string& lock_file = kUidLockFile);
    ~UidRangeLock();  // removes the record; the lock goes with the file description
    UidRangeLock(const UidRangeLock&) = delete;
    UidRangeLock& operator=(const UidRangeLock&) = delete;

private:
    unique_fd fd_;
    std::string record_;
};

}  // namespace jaild
