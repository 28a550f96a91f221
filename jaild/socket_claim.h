// One jaild per socket path. A jaild starting on a path where another one answers is refused, not given the
// path (binding would unlink the live socket and leave the other running but unreachable); a jaild that stops
// removes the socket only if the path is still the one it bound. A lock file beside the socket (PATH.lock,
// flock held for life) settles two jailds starting at once.
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>

#include "common/unique_fd.h"

namespace jaild {

struct SocketInUse : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class SocketClaim {
public:
    // Takes `path` for this jaild: makes its directory, locks PATH.lock, and removes a socket file nobody
    // answers on (one a killed jaild left). Throws SocketInUse when, for kPredecessorGrace
    // (uid_range_lock.h), another jaild still answers there or holds the
    // lock, or when the path is something other than a socket; std::runtime_error when it cannot check.
    explicit SocketClaim(std::string path);
    ~SocketClaim();  // release()
    SocketClaim(const SocketClaim&) = delete;
    SocketClaim& operator=(const SocketClaim&) = delete;

    const std::string& path() const { return path_; }
    // After bind: remembers which file is ours (device and inode).
    void bound();
    // Removes the socket file if the path still names the file bound() saw; true when it did.
    bool release() noexcept;

private:
    std::string path_;
    unique_fd lock_;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    bool bound_ = false;
};

}  // namespace jaild
