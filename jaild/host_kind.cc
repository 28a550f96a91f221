#include "jaild/host_kind.h"

#include <sys/klog.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

namespace jaild {

namespace {

constexpr std::size_t kDmesgBytes = 16 * 1024;
constexpr int kSyslogReadAll = 3;  // SYSLOG_ACTION_READ_ALL (syslog(2))

std::string read_file(const char* path, std::size_t limit = 1 << 20) {
    std::ifstream in(path, std::ios::binary);
    std::string text;
    char buffer[4096];
    while (in && text.size() < limit) {
        in.read(buffer, sizeof buffer);
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
    }
    return text;
}

std::string first_line_starting(const std::string& text, std::string_view prefix) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(prefix, 0) == 0) return line;
    }
    return {};
}

bool contains(std::string_view text, std::string_view what) { return text.find(what) != std::string_view::npos; }

// The line of `text` that holds `what`, trimmed to a readable length, as the evidence.
std::string line_with(std::string_view text, std::string_view what) {
    const std::size_t at = text.find(what);
    std::size_t begin = text.rfind('\n', at);
    begin = begin == std::string_view::npos ? 0 : begin + 1;
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(begin, std::min<std::size_t>(end - begin, 80)));
    std::replace(line.begin(), line.end(), '\0', ' ');
    // syslog(2) keeps each record's level ("<6>"), which dmesg leaves out.
    if (line.size() > 3 && line[0] == '<' && line.find('>') <= 3) line.erase(0, line.find('>') + 1);
    return line;
}

// systemd's container= variable in PID 1's environment ("container=lxc"), without the NULs around it.
std::string environ_container(std::string_view environ) {
    constexpr std::string_view key = "container=";
    for (std::size_t at = 0; at < environ.size();) {
        std::size_t end = environ.find('\0', at);
        if (end == std::string_view::npos) end = environ.size();
        const std::string_view entry = environ.substr(at, end - at);
        if (entry.rfind(key, 0) == 0) return std::string(entry.substr(key.size()));
        at = end + 1;
    }
    return {};
}

// DMI vendors of hypervisors (a physical machine's board vendor is none of these).
constexpr std::array<std::string_view, 9> kVmVendors = {
    "QEMU", "VMware", "Microsoft Corporation", "Xen", "innotek", "Amazon EC2", "Google", "DigitalOcean", "Hetzner"};

}  // namespace

HostHints read_host_hints() {
    HostHints hints;
    hints.proc_version = read_file("/proc/version", 4096);
    hints.cmdline = read_file("/proc/cmdline", 4096);
    std::string log(kDmesgBytes, '\0');
    const int n = ::klogctl(kSyslogReadAll, log.data(), static_cast<int>(log.size()));
    hints.dmesg = n > 0 ? log.substr(0, static_cast<std::size_t>(n)) : std::string();
    hints.pid1_environ = read_file("/proc/1/environ", 64 * 1024);
    hints.container = read_file("/run/systemd/container", 256);
    hints.mountinfo = read_file("/proc/self/mountinfo");
    hints.cpuinfo_flags = first_line_starting(read_file("/proc/cpuinfo", 64 * 1024), "flags");
    hints.dmi_vendor = read_file("/sys/class/dmi/id/sys_vendor", 256);
    return hints;
}

HostClass classify(const HostHints& h) {
    if (contains(h.dmesg, "gVisor")) return {HostKind::gvisor, "dmesg: " + line_with(h.dmesg, "gVisor")};
    if (contains(h.cmdline, "gvisor")) return {HostKind::gvisor, "/proc/cmdline: " + line_with(h.cmdline, "gvisor")};
    const std::string manager = h.container.empty() ? environ_container(h.pid1_environ) : h.container;
    const std::string name = manager.substr(0, manager.find_first_of("\n "));
    if (name == "lxc" || name == "lxc-libvirt") return {HostKind::lxc, "container manager: " + name};
    if (contains(h.mountinfo, "lxcfs")) return {HostKind::lxc, "lxcfs mounted over /proc"};
    if (!name.empty()) return {HostKind::container, "container manager: " + name};
    for (std::string_view vendor : kVmVendors) {
        if (contains(h.dmi_vendor, vendor)) return {HostKind::vm, "DMI vendor: " + std::string(vendor)};
    }
    if (contains(h.cpuinfo_flags, " hypervisor")) return {HostKind::vm, "the CPU flags name a hypervisor"};
    return {HostKind::bare_metal, "no container, hypervisor or gVisor hint"};
}

std::string_view host_name(HostKind kind) {
    switch (kind) {
        case HostKind::gvisor: return "gVisor (runsc)";
        case HostKind::lxc: return "LXC container (a Proxmox CT or another LXC host)";
        case HostKind::container: return "container";
        case HostKind::vm: return "virtual machine";
        case HostKind::bare_metal: return "Linux host";
    }
    return "unknown";
}

std::string_view namespace_fix(HostKind kind) {
    switch (kind) {
        case HostKind::gvisor:
            return "gVisor (runsc) refuses this even through clone (the check falls back from clone3, which it "
                   "lacks): run jaild in a virtual machine, or with runc as the container's runtime";
        case HostKind::lxc:
            return "enable nesting: on Proxmox `pct set <id> --features nesting=1` and restart the container; "
                   "LXD/Incus: security.nesting=true; plain LXC: lxc.include = /usr/share/lxc/config/nesting.conf";
        case HostKind::container:
            return "a Docker or Podman container creates namespaces only with --privileged (or CAP_SYS_ADMIN and "
                   "unconfined seccomp and AppArmor profiles): start it so, or run jaild on the host";
        case HostKind::vm:
        case HostKind::bare_metal: break;
    }
    return "a kernel built with that namespace, user.max_<kind>_namespaces not 0 (sysctl), and no "
           "RestrictNamespaces= in jaild.service";
}

std::string_view cgroup_fix(HostKind kind) {
    switch (kind) {
        case HostKind::gvisor:
            return "gVisor (runsc) mounts no cgroup filesystem inside its sandbox: run jaild in a virtual machine, "
                   "or with runc as the container's runtime";
        case HostKind::lxc:
            return "Proxmox: nesting=1 gives the container its delegated cgroup v2 tree; other LXC: "
                   "lxc.mount.auto = cgroup:rw";
        case HostKind::container:
            return "give the container its own writable cgroup tree (Docker/Podman: --cgroupns=private with a "
                   "cgroup v2 host), or run jaild on the host";
        case HostKind::vm:
        case HostKind::bare_metal: break;
    }
    return "cgroup v2: Delegate=yes in jaild.service; cgroup v1: mount the memory, pids and cpuacct controllers";
}

}  // namespace jaild
