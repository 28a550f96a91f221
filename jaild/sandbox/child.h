// The sandboxed side of one run: what the child executes between clone() and execve(), and the record it
// sends back. The parent prepares a ChildSpec (spawn.cc); the child only reads it. Everything here is
// async-signal-safe: no allocation, no locks, no exceptions, no logging (jaild is multi-threaded, and a
// cloned child of a multi-threaded process may only make such calls).
#pragma once

#include <linux/filter.h>

#include <signal.h>
#include <sys/resource.h>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/child_abi.h"
#include "jaild/sandbox/mounts.h"
#include "jaild/sandbox/rlimits.h"

namespace jaild {

std::string_view stage_name(Stage stage) noexcept;

// A failure a test asks for (Spawner::inject_failure_for_tests; nothing else sets it): the child reports
// `stage` as failed with `err` at that stage's place in the order, whether or not this sandbox needs that
// step, as if the step had failed. Stages the reaper runs (fork, exec) are not injectable here.
struct InjectedFailure {
    Stage stage = Stage::none;
    int err = 0;
};

struct ChildSpec {
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    int report_fd = -1;
    int result_fd = -1;  // the program's fd 3 when set (RunPlan::result_channel)
    cgroup::AttachFds cgroup;
    bool join_cgroup_by_write = false;  // v1, or v2 without CLONE_INTO_CGROUP
    bool new_cgroup_namespace = false;  // unshare after joining (when clone could not do it)

    bool propagation_already_private = false;  // see mounts::make_private
    // Chroot mode (sandbox.isolation = "chroot"): cloned into no namespace; new_root is this run's own, built
    // by the mounts below in jaild's mount namespace, and entered by chroot. No hostname or loopback of its
    // own; the sandbox's first process is a child subreaper, so what the program leaves behind is its to reap.
    bool chroot = false;
    // The kernel refuses remounts, recursive binds and pivot_root (gVisor; degraded mode only): see
    // mounts::apply. Securebits, which gVisor lacks too, are then skipped.
    bool remount_refused = false;
    const mounts::Op* mount_ops = nullptr;
    std::size_t mount_count = 0;
    const char* new_root = nullptr;

    const char* hostname = nullptr;
    std::size_t hostname_len = 0;
    bool loopback_up = true;
    int netns_fd = -1;  // a prepared network namespace to enter (its lo is up); -1: cloned with CLONE_NEWNET

    const rlimits::Entry* rlimits = nullptr;
    std::size_t rlimit_count = 0;

    std::uint32_t uid = 0;  // the program's uid and gid, the sandbox's PID 1's effective ones
    std::uint32_t gid = 0;
    std::uint32_t reaper_uid = 0;  // the sandbox's PID 1's real and saved uid and gid (credentials.h)
    std::uint32_t reaper_gid = 0;
    int last_cap = 0;
    const void* empty_caps = nullptr;  // a cap_t with every set empty, built by the parent

    const char* cwd = nullptr;
    const sock_fprog* seccomp = nullptr;

    const char* const* exec_paths = nullptr;  // candidates for argv[0] (PATH resolved in the parent)
    std::size_t exec_path_count = 0;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    int reaper_fd = -1;                  // jaild-reaper (O_PATH); -1: the clone of jaild stays the reaper itself
    char* const* reaper_argv = nullptr;  // reaper_command_line() (program_start.h)
    bool shares_memory = false;          // cloned with CLONE_VM|CLONE_VFORK: must exec or exit, never reap in place
    bool send_namespaces = false;        // every namespace with the first record, not only the mount namespace
    InjectedFailure injected;            // tests only
};

// A zygote's child (jaild/zygote/): the process the zygote forked into the sandbox's PID namespace, still
// root and in the zygote's other namespaces. enter_sandbox() takes it into the sandbox jaild built: the same
// cgroup, the sandbox's mount (with its pivoted, read-only root), network, IPC, UTS and cgroup namespaces,
// then the steps every run's program has gone through before its execve: descriptors, rlimits, securebits,
// bounding set, credentials, capabilities, no_new_privs, signals, umask and the seccomp filter. A failing
// step is reported on the report channel and ends the child (exit 127).
struct EnterSpec {
    const int* namespaces = nullptr;  // the sandbox's, in the order of namespace_paths (the PID one unused)
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    int report_fd = -1;
    int start_fd = -1;   // the start memfd: stays open, close-on-exec, at child_start_fd
    int result_fd = -1;  // the program's fd 3 when set
    const int* cgroup_fds = nullptr;
    std::size_t cgroup_fd_count = 0;
    const rlimits::Entry* rlimits = nullptr;
    std::size_t rlimit_count = 0;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    int last_cap = 0;
    const void* empty_caps = nullptr;
    const sock_fprog* seccomp = nullptr;
    // The signal dispositions to restore (index = signal number, 1 … NSIG-1): the interpreter's own after
    // its start, as a cold interpreter would have set them.
    const struct sigaction* signals = nullptr;
};

// Where enter_sandbox() leaves the start memfd (the report channel is at child_report_fd). Both close-on-exec;
// the caller closes them before the program runs.
inline constexpr int child_start_fd = 5;

void enter_sandbox(const EnterSpec& spec) noexcept;

// Reports a failed step on the report channel (at child_report_fd) and ends the process with 127.
[[noreturn]] void fail_step(Stage stage, int err, int detail = 0) noexcept;

// Child entry point after clone(): sets up the sandbox, becomes the PID-1 reaper of the program, and exits
// when the program does. Never returns.
[[noreturn]] void run_child(const ChildSpec& spec) noexcept;

}  // namespace jaild
