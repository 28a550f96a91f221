#include "jaild/probe.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/linux_compat.h"
#include "jaild.pb.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/one_shot.h"
#include "jaild/sandbox/spawn.h"
#include "jaild/sandbox/uid_pool.h"

namespace jaild {

namespace {

constexpr const char* kNestingFix =
    "Proxmox LXC: enable nesting (pct set <id> --features nesting=1) and restart the container; "
    "elsewhere check that the kernel has the namespace and that user.max_*_namespaces is not 0";

struct NamespaceProbe {
    const char* name;
    std::uint64_t flag;
};
constexpr NamespaceProbe kNamespaces[] = {
    {"pid namespace", CLONE_NEWPID}, {"mount namespace", CLONE_NEWNS}, {"network namespace", CLONE_NEWNET},
    {"ipc namespace", CLONE_NEWIPC}, {"uts namespace", CLONE_NEWUTS},  {"cgroup namespace", CLONE_NEWCGROUP},
};

// A child in a new namespace of one kind that exits at once: proves the kernel and container allow it.
int try_namespace(std::uint64_t flag) {
    clone_args args{};
    args.flags = flag;
    args.exit_signal = SIGCHLD;
    const long pid = sys::clone3(&args);
    if (pid == 0) ::_exit(0);
    if (pid < 0) return errno;
    int status = 0;
    ::waitpid(static_cast<pid_t>(pid), &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : ECHILD;
}

// The stages of a complete run, in order, each a line of the report.
struct StageItem {
    Stage stage;
    const char* name;
    const char* fix;
};
constexpr StageItem kStages[] = {
    {Stage::cgroup_attach, "join job cgroup", "see the cgroup items"},
    {Stage::network_namespace, "enter a prepared network namespace", kNestingFix},
    {Stage::mount_private, "private mount propagation", kNestingFix},
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

void add_stage_items(ProbeReport& report, const FullRun& run) {
    // Stages before the failing one worked; the first item at or after it carries the failure (its text
    // names the exact step); the rest were not reached.
    const bool at_stage = run.failure.kind == ChildReport::failed;
    bool blamed = false;
    for (const StageItem& item : kStages) {
        ProbeItem line{item.name, false, true, "", item.fix};
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

}  // namespace

ProbeReport probe_host(const Config& config, cgroup::Manager* cgroups, const Spawner* spawner,
                       const std::string& setup_error) {
    ProbeReport report;
    utsname uts{};
    if (::uname(&uts) == 0) report.kernel = std::string(uts.sysname) + " " + uts.release;
    report.items.push_back({"running as root", ::geteuid() == 0, true, "", "start jaild as root (jaild.service does)"});
    for (const NamespaceProbe& ns : kNamespaces) {
        const int err = try_namespace(ns.flag);
        const bool needed = ns.flag != CLONE_NEWNET || !config.sandbox.allow_network;
        report.items.push_back({ns.name, err == 0, needed, err ? std::strerror(err) : "", kNestingFix});
    }
    report.cgroup_version = cgroups ? std::string(cgroups->version()) : "none";
    ProbeItem cgroup_item{"cgroups (" + report.cgroup_version + ")", cgroups != nullptr, true, "",
                          "cgroup v2: Delegate=yes in jaild.service (LXC: nesting=1); cgroup v1: mount the memory, "
                          "pids and cpuacct controllers"};
    if (cgroups) {
        for (const std::string& line : cgroups->describe())
            cgroup_item.detail += (cgroup_item.detail.empty() ? "" : "; ") + line;
        report.items.push_back({"cgroup cpu quota", cgroups->has_cpu_controller(), false, "",
                                "enable the cpu controller (only needed for sandbox.cpu_quota_percent)"});
    } else {
        cgroup_item.detail = setup_error;
    }
    report.items.insert(report.items.begin() + 1 + std::size(kNamespaces), cgroup_item);

    if (spawner) {
        std::string cgroup_detail;
        const FullRun run = run_true(config, *spawner, cgroups, cgroup_detail);
        if (cgroups)
            report.items.push_back({"job cgroup with limits", cgroup_detail.rfind("created", 0) == 0, true,
                                    cgroup_detail, "see the cgroups item"});
        add_stage_items(report, run);
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
