#include "jaild/sandbox/workspace.h"

#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "jaild/sandbox/mounts.h"

namespace jaild {

namespace {
std::error_code last_error() { return {errno, std::system_category()}; }
bool private_namespace = false;
}  // namespace

std::error_code unshare_mount_namespace() {
    if (::unshare(CLONE_NEWNS) != 0) return last_error();
    // Slave: the host's later mounts (a new /usr?) still reach us; nothing of ours reaches the host. Where no
    // mount propagates at all (gVisor, which then refuses the change with EINVAL) there is nothing to change.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0 &&
        !(errno == EINVAL && mounts::own_propagation_already_private()))
        return last_error();
    private_namespace = true;
    return {};
}

WorkspaceArea::WorkspaceArea(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw std::runtime_error("cannot create " + dir_ + ": " + ec.message());
    ::chmod(dir_.c_str(), 0700);
    // Mount points left by a jaild that could not have a namespace of its own and was killed.
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        if (::rmdir(entry.path().c_str()) != 0)
            spdlog::warn("cannot remove stale workspace {}: {}", entry.path().string(), std::strerror(errno));
    }
    // In jaild's own namespace even the mount points live on a tmpfs of ours: a jaild killed by SIGKILL
    // leaves not even an empty directory behind.
    constexpr unsigned long kFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (private_namespace &&
        ::mount("tmpfs", dir_.c_str(), "tmpfs", kFlags, "size=1m,nr_inodes=65536,mode=0700") != 0 &&
        !(errno == EINVAL && ::mount("tmpfs", dir_.c_str(), "tmpfs", kFlags, "size=1m,mode=0700") == 0))  // gVisor
        spdlog::warn("cannot mount a tmpfs on {}: {}", dir_, std::strerror(errno));
}

std::string WorkspaceArea::create(const std::string& name, std::uint32_t uid, std::uint64_t bytes,
                                  std::error_code& ec) const {
    const std::string path = dir_ + "/" + name;
    if (::mkdir(path.c_str(), 0700) != 0) {
        ec = last_error();
        return {};
    }
    const std::uint64_t inodes = std::max<std::uint64_t>(1024, bytes / 1024);
    const std::string size = "size=" + std::to_string(bytes) + ",mode=0755";
    const std::string data = size + ",nr_inodes=" + std::to_string(inodes);
    // gVisor's tmpfs lacks nr_inodes (EINVAL): there the workspace is bounded by its size only.
    const bool mounted =
        ::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, data.c_str()) == 0 ||
        (errno == EINVAL && ::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, size.c_str()) == 0);
    if (!mounted || ::chown(path.c_str(), uid, uid) != 0) {
        ec = last_error();
        remove(path);
        return {};
    }
    return path;
}

void WorkspaceArea::remove(const std::string& path) const {
    if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL)
        spdlog::error("cannot unmount workspace {}: {}", path, std::strerror(errno));
    if (::rmdir(path.c_str()) != 0) spdlog::error("cannot remove workspace {}: {}", path, std::strerror(errno));
}

}  // namespace jaild
