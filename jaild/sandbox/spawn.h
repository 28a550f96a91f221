// The parent side of one sandbox: everything the child needs is built here, before clone(), and the child
// is cloned into its namespaces (and on cgroup v2 straight into its cgroup).
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/unique_fd.h"
#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/netns_pool.h"
#include "jaild/sandbox/rootfs.h"
#include "jaild/sandbox/run_plan.h"
#include "jaild/sandbox/seccomp_policy.h"

namespace jaild {

// Chroot mode's root of one run (Spawner, sandbox.isolation = "chroot"): a directory below <run_dir>/roots whose
// mounts the run's first process made in jaild's mount namespace. Destroying it detaches them all (a lazy
// unmount of its top takes every mount beneath along) and removes the directory; Supervisor::job_ended does
// that off jaild's loop.
class ChrootRoot {
public:
    ChrootRoot() = default;
    explicit ChrootRoot(std::string path) : path_(std::move(path)) {}
    ChrootRoot(ChrootRoot&& other) noexcept : path_(std::exchange(other.path_, {})) {}
    ChrootRoot& operator=(ChrootRoot&& other) noexcept;
    ~ChrootRoot() { remove(); }
    const std::string& path() const { return path_; }
    explicit operator bool() const { return !path_.empty(); }

private:
    void remove() noexcept;
    std::string path_;
};

struct Spawned {
    pid_t pid = -1;
    unique_fd pidfd;
    unique_fd stdin_w;  // the program's standard input
    unique_fd stdout_r;
    unique_fd stderr_r;
    unique_fd report_r;  // ChildReport records; see child_abi.h
    std::vector<ChildReport>
        early_reports;  // records read at the spawn (receive_mount_namespace) that are not the namespace
    unique_fd result;   // jaild's end of the result channel (RunPlan::result_channel), else empty
    MountList mounts;   // kept to name a failing mount in the error
    // The sandbox's mount namespace, held so that its teardown (unmounting each of its mounts, then an RCU
    // grace period) does not happen in the reaper's exit, on the way to the answer, but after the answer
    // and off jaild's loop (Supervisor::close_later). The child sends it as its first record; empty when it
    // could not.
    unique_fd mount_ns;
    ChrootRoot chroot_root;  // chroot mode: the run's root, built in jaild's mount namespace
    // Its PID, network, IPC, UTS and cgroup namespaces (namespace_paths[1…] in child_abi.h), sent with the
    // mount namespace when the spawn kept the program's ends (a zygote's child enters them).
    std::array<unique_fd, namespace_count - 1> namespaces;
    // The child ends of the program's descriptors and a copy of the report channel's, kept only when asked
    // for (spawn's keep_program_ends): a zygote's child gets them instead of the sandbox's reaper
    // (zygote.h). Whoever holds them must close them once they are handed on, or the run never sees EOF.
    // A warm run's program (the zygote's child, zygote.h), when it was still there to open: its job reaps
    // it and reports its end should the zygote die first (jaild is a child subreaper).
    unique_fd program_pidfd;
    struct ProgramEnds {
        unique_fd stdin_r, stdout_w, stderr_w, report_w, result;
    } program_ends;
};

// Every record of the run's report channel in order (those read at the spawn first), without the
// mount-namespace record. Reads to EOF: call it once every writer is gone (the sandbox's PID 1 reaped).
std::vector<ChildReport> drain_reports(const Spawned& spawned);

// Owns what every run shares and that is resolved once at start: the rootfs recipe, the compiled seccomp
// filter, the empty capability state.
class Spawner {
public:
    // extra_binds: host directories the languages need (LanguageRegistry::extra_binds).
    // `check`: for jaild --check, which may run beside a live jaild (chroot mode: its runs' roots go to a
    // directory of its own, so that it never touches the live jaild's).
    explicit Spawner(const Config& config, const std::vector<std::string>& extra_binds = {}, bool check = false);
    ~Spawner();
    Spawner(const Spawner&) = delete;

    // Clones the sandbox for `plan`: its program runs as uid/gid `uid`, its PID 1 as reaper_uid_of(uid)
    // (uid_pool.h; the caller holds both). `cgroup` may be null only for the start-up probe. On
    // failure sets ec (the errno of the failing parent-side call). Any thread: the calling thread is
    // suspended until the sandbox's first process execs jaild-reaper. `warm`: the reaper waits
    // for the program's start on the report channel (warm_pool.h; needs jaild-reaper); the plan then only
    // gives the sandbox's filesystem and the limits the start may lower.
    Spawned spawn(const RunPlan& plan, std::uint32_t uid, cgroup::JobCgroup* cgroup, bool cgroup_v2,
                  std::error_code& ec, bool warm = false, bool keep_program_ends = false) const;
    // Whether spawn(…, warm = true) can work: jaild-reaper was found.
    bool can_warm() const { return static_cast<bool>(reaper_); }

    // Text for a child's failure report: "mounts: bind /usr (from /usr): Permission denied".
    std::string describe_failure(const ChildReport& report, const Spawned& spawned) const;

    // Test code only (the service never calls it): every later sandbox fails at `stage` with `err` (see
    // InjectedFailure in child.h), so that tests can check each stage's failure report.
    void inject_failure_for_tests(InjectedFailure failure) { injected_ = failure; }

    const seccomp::Filter& filter() const { return filter_; }
    const Rootfs& rootfs() const { return rootfs_; }
    // At start, in jaild's own mount namespace: see Rootfs::build_template.
    std::error_code build_template() { return rootfs_.build_template(); }
    // Where jaild-reaper was found ("" when it was not: each sandbox's clone of jaild then reaps itself).
    const std::string& reaper_path() const { return reaper_path_; }
    // Degraded mode where the kernel refuses read-only remounts (gVisor): the runs' runtime directories are
    // bound writable, kept from the runs by ownership only (mounts::apply), and their roots entered by chroot.
    bool remount_refused() const { return remount_refused_; }

private:
    // The steps of spawn() that need the spawner: the parts of the spec every run shares, and the
    // namespaces to clone (a prepared network namespace, or a new one).
    ChildSpec base_spec(const RunPlan& plan, std::uint32_t uid) const;
    std::uint64_t choose_namespaces(ChildSpec& spec, unique_fd& netns) const;

    const Config& config_;
    Rootfs rootfs_;
    seccomp::Filter filter_;
    int last_cap_;
    const void* empty_caps_;
    std::string reaper_path_;
    bool propagation_already_private_;  // of jaild's mount namespace, which each sandbox's copies
    bool remount_refused_ = false;      // degraded mode on a kernel that refuses remounts (gVisor): ChildSpec
    // Chroot mode: <run_dir>/roots, a private mount of its own holding each run's root (<uid>-<n>), and the
    // counter that makes those names unique (a root is removed after its uid may already run again).
    std::string roots_dir_;
    mutable std::atomic<std::uint64_t> next_root_{0};
    InjectedFailure injected_;
    std::unique_ptr<NetnsPool> netns_;  // null with sandbox.allow_network (runs share the host's network)
    unique_fd reaper_;                  // O_PATH, executed by each sandbox's first process, which it turns into PID 1
    // Stacks of sandboxes' first processes while they share jaild's memory (see spawn()): one per thread
    // that clones at the same time (the event loop, the warm pool's thread), kept for reuse. Unused when
    // clones are fork-like (no jaild-reaper to exec, or a sanitized build).
    void* take_stack() const;
    void return_stack(void* stack) const;
    mutable std::mutex stacks_mutex_;
    mutable std::vector<void*> free_stacks_;
    mutable std::vector<void*> all_stacks_;
};

}  // namespace jaild
