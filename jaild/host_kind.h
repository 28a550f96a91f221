// What kind of host jaild runs on — gVisor, an LXC container (Proxmox's or another), another container, a
// virtual machine or bare metal — told from what the host shows of itself, so that `jaild --check` gives
// advice that fits it. Reading the hints (read_host_hints) is apart from deciding (classify), which is a pure
// function of the text read and unit-tested over fake inputs.
#pragma once

#include <string>
#include <string_view>

namespace jaild {

enum class HostKind { gvisor, lxc, container, vm, bare_metal };

// The texts classify() looks at, each as read (empty when it could not be read).
struct HostHints {
    std::string proc_version;   // /proc/version
    std::string cmdline;        // /proc/cmdline
    std::string dmesg;          // the kernel log's first few KiB (syslog(2), as dmesg reads it)
    std::string pid1_environ;   // /proc/1/environ, NULs as they are
    std::string container;      // /run/systemd/container (systemd writes the container manager's name)
    std::string mountinfo;      // /proc/self/mountinfo
    std::string cpuinfo_flags;  // the first "flags" line of /proc/cpuinfo
    std::string dmi_vendor;     // /sys/class/dmi/id/sys_vendor
};

struct HostClass {
    HostKind kind = HostKind::bare_metal;
    std::string evidence;  // which hint decided it, for the check's line ("dmesg: Starting gVisor...")
};

// jaild, at start and for each check: reads the hints. Never fails; what cannot be read stays empty.
HostHints read_host_hints();

// Pure. gVisor first (it also looks like a VM and a container from inside), then containers, then VMs.
HostClass classify(const HostHints& hints);

// "gVisor (runsc)", "LXC container (a Proxmox CT or another LXC host)", ...
std::string_view host_name(HostKind kind);

// What to change on this kind of host when a namespace cannot be created.
std::string_view namespace_fix(HostKind kind);

// What to change on this kind of host when no cgroup hierarchy jaild can use is mounted.
std::string_view cgroup_fix(HostKind kind);

}  // namespace jaild
