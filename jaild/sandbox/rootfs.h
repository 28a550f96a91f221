// The recipe of a sandbox's filesystem. Resolved once at start from the config (which runtime directories
// exist, which /etc entries are files, directories or symlinks); per run only the sizes, the synthesized
// /etc/passwd and the request's files are added.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/config.h"
#include "jaild/sandbox/mounts.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

// The mount operations of one run, with the strings they point into.
class MountList {
public:
    MountList() = default;
    MountList(MountList&&) = default;  // moving a deque keeps its elements in place
    MountList& operator=(MountList&&) = default;
    MountList(const MountList&) = delete;  // a copy's ops would point into the original's strings

    const char* keep(std::string text);
    void add(mounts::Op op) { ops_.push_back(op); }
    void append(const std::vector<mounts::Op>& ops) { ops_.insert(ops_.end(), ops.begin(), ops.end()); }
    const std::vector<mounts::Op>& ops() const { return ops_; }
    // "bind /usr → /usr" style text for the op at index (error messages).
    std::string describe(std::size_t index, const std::string& new_root) const;

private:
    std::deque<std::string> strings_;  // a deque never moves its elements: c_str() pointers stay valid
    std::vector<mounts::Op> ops_;
};

struct JobFilesystem {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint64_t tmp_bytes = 0;
    const std::vector<PlanFile>* files = nullptr;
    const std::string* workspace_source = nullptr;  // host directory bound at /workspace; null/empty: a tmpfs
    const std::string* tmp_source = nullptr;        // host directory bound at /tmp; null/empty: a tmpfs
    const RunPlan::Packages* packages = nullptr;    // a Python environment and wheelhouse (packages.h)
    bool terminals = false;                         // a devpts instance of its own at /dev/pts (live sessions)
    // The workspace also at home_user_dir (live sessions: E2B's user home; needs a source). Such a root is built
    // whole: the shared template has no /home.
    bool home_user = false;
    // Chroot mode (sandbox.isolation = "chroot"): where this run's root is built, in jaild's own mount
    // namespace, instead of new_root() in the run's; its /proc then hides every process of another uid.
    const std::string* root = nullptr;
};

// Where the language support files (the Python runner) appear inside every run.
inline constexpr const char* support_mount = "/opt/jaild";
// Where a live session's workspace appears a second time: the home and working directory E2B's SDKs expect.
inline constexpr const char* home_user_dir = "/home/user";
// Where a request's Python package environment appears (read-only in its run, writable in the install
// step that builds it), and the wheelhouse the install step reads.
inline constexpr const char* packages_mount = "/opt/jaild-packages";
inline constexpr const char* wheelhouse_mount = "/opt/jaild-wheelhouse";

class Rootfs {
public:
    // At start. Creates the mount point <run_dir>/root. Throws std::runtime_error when a path is unusable.
    // extra_binds: host directories the languages need besides sandbox.ro_binds; support_dir: bound
    // read-only at support_mount when it exists.
    explicit Rootfs(const SandboxConfig& config, const std::vector<std::string>& extra_binds = {},
                    const std::string& support_dir = {});
    Rootfs(const Rootfs&) = delete;

    // At start, in jaild's own mount namespace only (unshare_mount_namespace): builds the part of the root
    // that is the same for every run once, at new_root(), and makes it read-only. Each sandbox's mount
    // namespace starts as a copy of jaild's, so it finds the template in place and for_job lists only what
    // differs per run (/proc, /tmp, /dev/shm, /workspace, the job's files, its /etc/passwd and /etc/group):
    // fewer than half the mount calls per run, and no mkdir/symlink/bind of the runtime directories.
    // On failure undoes what it did and returns the error; for_job then keeps listing the whole root.
    std::error_code build_template();
    bool templated() const { return templated_; }

    // Parent, per run: the complete list in the order the child applies it.
    MountList for_job(const JobFilesystem& job) const;
    const std::string& new_root() const { return new_root_; }
    const std::string& hostname() const { return hostname_; }

private:
    // The job's /etc/passwd and /etc/group, kept per uid under ids_dir_ (templated mode): created the first
    // time a uid runs. Returns the directory holding both, or "" when they could not be written.
    std::string ids_for(std::uint32_t uid, std::uint32_t gid) const;

    std::string new_root_;
    std::string ids_dir_;
    std::string hostname_;
    MountList skeleton_;  // root tmpfs, runtime dirs, /etc entries, /dev, mount points for the rest
    MountList proc_;      // /proc and its masks (a procfs belongs to the pid namespace that mounts it)
    MountList after_;     // read-only /dev once it is complete
    bool templated_ = false;
};

}  // namespace jaild
