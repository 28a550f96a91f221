// Host-side workspaces: a size-limited tmpfs per request whose steps share files (a compiled language's
// compile and run), owned by the request's sandbox uid and bound at /workspace in each step. They are
// mounted in jaild's own mount namespace (jaild unshares one at start), so the host never sees them and a
// jaild that dies, even by SIGKILL, takes them with it.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace jaild {

// Gives jaild a mount namespace of its own (mounts from the host still propagate in, ours never out). Called
// first thing at start, while jaild has one thread.
std::error_code unshare_mount_namespace();

class WorkspaceArea {
public:
    // dir: <run_dir>/work, created if missing.
    explicit WorkspaceArea(std::string dir);

    // A new workspace <dir>/<name>: a tmpfs of `bytes` (and one inode per KiB), mode 0755, owned by uid.
    std::string create(const std::string& name, std::uint32_t uid, std::uint64_t bytes, std::error_code& ec) const;
    // Unmounts and removes it; logs what fails (nothing can run in it any more).
    void remove(const std::string& path) const;

private:
    std::string dir_;
};

}  // namespace jaild
