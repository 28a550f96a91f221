// Two jailds on one host must never hand out the same sandbox uid. Each holds, for its whole life, a lock on
// its uid range in one host-wide file (kUidLockDir/uids, under /run/lock: not the configurable run_dir, which
// two jailds may set apart). The locks are open-file-description byte-range locks (fcntl F_OFD_SETLK) whose
// bytes are the uids, so two ranges overlap exactly when the kernel finds the locks in conflict, and a lock
// goes with its holder however it ends (kill -9 included): no stale state to clean.
//
// /run/lock is writable by every user: the lock and its records live in a directory of their own that must be
// root's and writable by nobody else, opened without following symbolic links, so that no user can plant the
// file, hold every range, or point a record at a file of root's.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/unique_fd.h"

namespace jaild {

inline constexpr const char* kUidLockDir = "/run/lock/jaild";

// How long a starting jaild waits for a lock or socket still held before it refuses. A jaild killed a moment
// ago may leave, for that moment, cloned children between clone and execve that hold copies of its
// descriptors (the lock's file description, the listening socket); they die with it.
inline constexpr std::chrono::milliseconds kPredecessorGrace{3000};

struct UidRangeTaken : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class UidRangeLock {
public:
    // Locks uids [base, base + count) in `lock_dir`/uids (the directory made 0755 if missing; refused unless
    // it is owned by this process's user and writable by no other) and records `socket` beside it
    // (`lock_dir`/uids.<base>) for a later jaild to name. Waits up to `grace`, then throws UidRangeTaken naming
    // the holder's socket, pid and range when the range overlaps one held; std::runtime_error when the
    // directory or file cannot be used safely.
    UidRangeLock(std::uint32_t base, std::uint32_t count, const std::string& socket,
                 const std::string& lock_dir = kUidLockDir, std::chrono::milliseconds grace = kPredecessorGrace);
    ~UidRangeLock();  // removes the record; the lock goes with the file description
    UidRangeLock(const UidRangeLock&) = delete;
    UidRangeLock& operator=(const UidRangeLock&) = delete;

private:
    unique_fd dir_, fd_;
    std::string record_;  // its name in dir_
};

}  // namespace jaild
