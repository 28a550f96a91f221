#include "jaild/probe.h"

#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/linux_compat.h"
#include "jaild.pb.h"
#include "jaild/cgroup_choice.h"
#include "jaild/host_kind.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/one_shot.h"
#include "jaild/sandbox/spawn.h"
#include "jaild/sandbox/uid_pool.h"

namespace jaild {

namespace {

struct NamespaceProbe {
    const char* name;
    std::uint64_t flag;
};
constexpr NamespaceProbe kNamespaces[] = {
    {"pid namespace", CLONE_NEWPID}, {"mount namespace", CLONE_NEWNS}, {"network namespace", CLONE_NEWNET},
    {"ipc namespace", CLONE_NEWIPC}, {"uts namespace", CLONE_NEWUTS},  {"cgroup namespace", CLONE_NEWCGROUP},
};

// A fork-like child that runs `child` (async-signal-safe: jaild is multi-threaded) and exits with the errno
// it returns, cloned as every sandbox is (clone3, or clone where the host lacks it). Returns 0 when the child
// exited 0, the errno of the clone or of the child, or ECHILD when it died otherwise.
template <typename Child>
int try_in_child(std::uint64_t flags, Child child) {
    clone_args args{};
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    const long pid = sys::clone3_or_clone(&args);
    if (pid == 0) ::_exit(child());
    if (pid < 0) return errno;
    int status = 0;
    ::waitpid(static_cast<pid_t>(pid), &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
}

// A child in a new namespace of one kind that exits at once: proves the kernel and container allow it.
int try_namespace(std::uint64_t flag) {
    return try_in_child(flag, [] { return 0; });
}

// What each run's child does first in its new mount namespace (mounts::make_private).
int try_private_mounts(bool already_private) {
    return try_in_child(CLONE_NEWNS, [already_private] { return mounts::make_private(already_private); });
}

// jaild waits for and signals every sandbox through a pidfd.
int try_pidfd() {
    const int fd = sys::pidfd_open(::getpid());
    if (fd < 0) return errno;
    ::close(fd);
    return 0;
}

// The action the seccomp filter takes for a call of a foreign architecture (seccomp_policy.cc).
int try_kill_process_action() {
    std::uint32_t action = SECCOMP_RET_KILL_PROCESS;
    return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0 ? 0 : errno;
}

// The stages of a complete run, in order, each a line of the report.
struct StageItem {
    Stage stage;
    const char* name;
    const char* fix;  // null: the namespace advice for this kind of host (host_kind.h)
};
constexpr StageItem kStages[] = {
    {Stage::cgroup_attach, "join job cgroup", "see the cgroup items"},
    {Stage::network_namespace, "enter a prepared network namespace", nullptr},
    {Stage::mount_private, "private mount propagation", nullptr},
    {Stage::mounts, "sandbox root (tmpfs, read-only binds, /proc, /dev)",
     "Proxmox LXC: nesting=1 (its AppArmor profile then allows mounts); check sandbox.ro_binds and etc_files"},
    {Stage::pivot_root, "pivot_root",
     "pivot_root fails on a shared or rootfs root: run jaild on a real root filesystem"},
    {Stage::hostname, "hostname", "jaild needs CAP_SYS_ADMIN in its new UTS namespace"},
    {Stage::loopback, "loopback interface", "jaild needs CAP_NET_ADMIN (CapabilityBoundingSet= in jaild.service)"},
    {Stage::rlimits, "rlimits", "raise jaild's own hard limits (LimitNOFILE= in jaild.service)"},
    {Stage::bounding_set, "drop capabilities", "jaild must run as real root with CAP_SETPCAP"},
    {Stage::credentials, "switch to a sandbox uid",
     "in an unprivileged LXC container only uids below 65536 exist: keep sandbox.uid_base + uid_count <= 65536"},
    {Stage::no_new_privs, "no_new_privs", "kernel 3.5 or newer"},
    {Stage::seccomp, "seccomp filter", "kernel with CONFIG_SECCOMP_FILTER; a container must allow nested filters"},
    {Stage::exec, "run a program in the sandbox", "`true` must exist under sandbox.ro_binds (e.g. /usr/bin/true)"},
};

struct FullRun {
    bool ran = false;
    ChildReport failure{};
    std::string detail;
};

FullRun run_true(const Config& config, const Spawner& spawner, cgroup::Manager* cgroups, std::string& cgroup_detail) {
    RunPlan plan;
    plan.argv = {"true"};
    plan.env = {std::string("PATH=") + sandbox_path_env};
    plan.cwd = workspace_dir;
    plan.limits = {2000, 5000, 64ull << 20, 1 << 20, 64, 16, 4096, 1 << 20, 8 << 20};
    const std::uint32_t uid = probe_uid(config.sandbox.uid_base, config.sandbox.uid_count);
    // Its cgroup's name starts with jaild's pid, so another jaild's stale-cgroup sweep leaves it alone (cgroup.cc).
    const OneShot shot = run_one_shot(spawner, cgroups, plan, uid, std::to_string(::getpid()) + "-probe", 5000);
    cgroup_detail = shot.cgroup_detail;
    FullRun result;
    result.detail = shot.error;
    for (const ChildReport& report : shot.reports) {
        if (report.kind == ChildReport::failed && result.failure.kind == 0) {
            result.failure = report;
            result.detail = shot.failure;
        }
    }
    result.ran = result.failure.kind == 0 && shot.exited_zero();
    if (!result.ran && result.failure.kind == 0 && !shot.reports.empty()) {
        result.failure = {ChildReport::failed, Stage::exec, 0, 0, shot.reports.back().wait_status};
        result.detail = "`true` did not exit 0";
    }
    return result;
}

// Stages a chroot-mode run skips (it has no namespace of its own), and its name for the pivot_root stage.
bool skipped_in_chroot(Stage stage) {
    return stage == Stage::network_namespace || stage == Stage::mount_private || stage == Stage::hostname ||
           stage == Stage::loopback;
}

void add_stage_items(ProbeReport& report, const FullRun& run, HostKind host, bool chroot) {
    // Stages before the failing one worked; the first item at or after it carries the failure (its text
    // names the exact step); the rest were not reached.
    const bool at_stage = run.failure.kind == ChildReport::failed;
    bool blamed = false;
    for (const StageItem& item : kStages) {
        if (chroot && skipped_in_chroot(item.stage)) continue;
        const bool into_chroot = chroot && item.stage == Stage::pivot_root;
        ProbeItem line{into_chroot ? "chroot into the run's root" : item.name, false, true, "",
                       item.fix ? item.fix : std::string(namespace_fix(host))};
        if (into_chroot) line.fix = "jaild needs CAP_SYS_CHROOT";
        if (host == HostKind::gvisor && item.stage == Stage::mounts)
            line.fix =
                "gVisor refuses read-only remounts and some tmpfs options: set `[sandbox] degraded = true` in "
                "jaild.toml, which uses what gVisor offers instead (docs/security.md \"Degraded mode\")";
        if (run.ran || (at_stage && item.stage < run.failure.stage)) {
            line.ok = true;
        } else if (!blamed) {
            line.detail = run.detail.empty() ? "the sandbox did not start" : run.detail;
            blamed = true;
        } else {
            line.detail = "not reached";
        }
        report.items.push_back(std::move(line));
    }
}

// The items of the host itself, measured one by one: what it is, its namespaces, and the kernel features
// each run needs beyond them.
void add_host_items(ProbeReport& report, const Config& config, const HostClass& host) {
    const bool chroot = config.sandbox.chroot;
    report.items.push_back({"host: " + std::string(host_name(host.kind)), true, false, host.evidence, ""});
    report.items.push_back({"running as root", ::geteuid() == 0, true, "", "start jaild as root (jaild.service does)"});
    if (chroot)
        report.items.push_back(
            {"isolation: chroot", false, false,
             "[sandbox] isolation = \"chroot\": runs get no namespaces; each can see the host's other "
             "processes (not their /proc entries) and, if the host has one, its network",
             "where the host allows namespaces, remove the key: they isolate runs better"});
    for (const NamespaceProbe& ns : kNamespaces) {
        const int err = try_namespace(ns.flag);
        const bool needed = !chroot && (ns.flag != CLONE_NEWNET || !config.sandbox.allow_network);
        std::string fix(chroot ? "none needed: chroot mode does without namespaces" : namespace_fix(host.kind));
        // Refused outright (Cloud Run, a seccomp profile): the mode made for such hosts.
        if (err == EPERM && !chroot)
            fix +=
                "; or, where the host refuses namespaces for good, set `[sandbox] isolation = \"chroot\"` in "
                "jaild.toml (weaker: docs/security.md \"Chroot mode\")";
        report.items.push_back({ns.name, err == 0, needed, err ? std::strerror(err) : "", std::move(fix)});
    }
    if (!sys::has_clone3())
        report.items.push_back({"clone3", false, false, "Function not implemented: jaild uses clone instead",
                                "none needed (gVisor and Docker's default seccomp profile refuse clone3)"});
    const auto platform = [&](const char* otherwise) {
        return host.kind == HostKind::gvisor
                   ? std::string(
                         "gVisor (runsc) lacks it: run jaild in a virtual machine, or with runc as the "
                         "container's runtime (docs/operations.md, restricted hosts)")
                   : std::string(otherwise);
    };
    const int pidfd = try_pidfd();
    report.items.push_back(
        {"pidfd", pidfd == 0, false,
         pidfd ? std::string(std::strerror(pidfd)) + ": jaild polls for each sandbox's end instead (up to 20 ms later)"
               : "",
         platform("Linux 5.4 or newer: jaild waits for and signals each sandbox through a pidfd")});
    const bool already_private = mounts::own_propagation_already_private();
    const int propagation = try_private_mounts(already_private);
    report.items.push_back({"private mounts in a new mount namespace", propagation == 0, !config.sandbox.chroot,
                            propagation ? std::strerror(propagation)
                                        : (already_private ? "no mount propagates here: nothing to make private" : ""),
                            config.sandbox.chroot ? std::string("none needed: chroot mode does without namespaces")
                                                  : platform(namespace_fix(host.kind).data())});
    const int kill_process = try_kill_process_action();
    report.items.push_back(
        {"seccomp kill-process action", kill_process == 0, false,
         kill_process ? std::string(std::strerror(kill_process)) +
                            ": a call of a foreign architecture kills the calling thread instead (refused either way)"
                      : "",
         platform("Linux 4.14 or newer (SECCOMP_RET_KILL_PROCESS ends a process that makes a call of a foreign "
                  "architecture)")});
}

// What a host without usable cgroups can set instead of fixing them.
constexpr const char* kDegradedFix =
    "; or set `[sandbox] degraded = true` in jaild.toml to serve without cgroups, with weaker limits "
    "(docs/security.md \"Degraded mode\")";

void add_cgroup_items(ProbeReport& report, cgroup::Manager* cgroups, const std::string& setup_error, HostKind host) {
    report.cgroup_version = cgroups ? std::string(cgroups->version()) : "none";
    ProbeItem item{"cgroups (" + report.cgroup_version + ")", cgroups != nullptr, true, "",
                   std::string(cgroup_fix(host)) + kDegradedFix};
    if (!cgroups) {
        item.detail = setup_error;
        report.items.push_back(std::move(item));
        return;
    }
    for (const std::string& line : cgroups->describe()) item.detail += (item.detail.empty() ? "" : "; ") + line;
    if (is_degraded(cgroups)) {
        // Served all the same, with the weaker limits named in every answer: a warning, not a failure.
        item.ok = false;
        item.required = false;
        item.fix = cgroup_fix(host);
        report.items.push_back(std::move(item));
        return;
    }
    report.items.push_back(std::move(item));
    report.items.push_back({"cgroup cpu quota", cgroups->has_cpu_controller(), false, "",
                            "enable the cpu controller (only needed for sandbox.cpu_quota_percent)"});
}

}  // namespace

ProbeReport probe_host(const Config& config, cgroup::Manager* cgroups, const Spawner* spawner,
                       const std::string& setup_error) {
    ProbeReport report;
    utsname uts{};
    if (::uname(&uts) == 0) report.kernel = std::string(uts.sysname) + " " + uts.release;
    const HostClass host = classify(read_host_hints());
    add_host_items(report, config, host);
    add_cgroup_items(report, cgroups, setup_error, host.kind);
    if (spawner) {
        std::string cgroup_detail;
        const FullRun run = run_true(config, *spawner, cgroups, cgroup_detail);
        if (cgroups && !is_degraded(cgroups))
            report.items.push_back({"job cgroup with limits", cgroup_detail.rfind("created", 0) == 0, true,
                                    cgroup_detail, std::string("see the cgroups item") + kDegradedFix});
        if (spawner->remount_refused())
            report.items.push_back(
                {"read-only mounts", false, false,
                 "Invalid argument (a read-only remount of a bind): degraded mode binds the runtime directories "
                 "writable, which only their owner, root, could use (runs never are), enters each run's root by "
                 "chroot, and skips securebits",
                 "none on this host: it is what degraded mode does here (docs/security.md \"Degraded mode\")"});
        add_stage_items(report, run, host.kind, config.sandbox.chroot);
    } else {
        report.items.push_back({"sandbox set-up", false, true, setup_error, "see the message"});
    }
    report.usable = true;
    for (const ProbeItem& item : report.items) report.usable = report.usable && (item.ok || !item.required);
    return report;
}

v1::CheckReport to_proto(const ProbeReport& report) {
    v1::CheckReport out;
    for (const ProbeItem& item : report.items) {
        v1::CheckItem* line = out.add_items();
        line->set_name(item.name);
        line->set_ok(item.ok);
        line->set_required(item.required);
        line->set_detail(item.detail);
        line->set_fix(item.fix);
    }
    out.set_usable(report.usable);
    out.set_cgroup_version(report.cgroup_version);
    out.set_kernel(report.kernel);
    return out;
}

}  // namespace jaild
