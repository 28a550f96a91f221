// The host classification behind `jaild --check`'s advice: a pure function of the texts the host shows, fed
// here with what gVisor, a Proxmox CT, a Docker container, a KVM guest and a physical machine show.
#include <catch2/catch.hpp>
#include <string>

#include "jaild/host_kind.h"

using jaild::classify;
using jaild::HostHints;
using jaild::HostKind;

namespace {

// What Debian's runsc (2022) shows inside its sandbox: it also claims a hypervisor flag and an old kernel.
HostHints gvisor() {
    HostHints h;
    h.proc_version = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n";
    h.cmdline = "BOOT_IMAGE=/vmlinuz-4.4.0-gvisor quiet\n";
    h.dmesg = "<6>[    0.000000] Starting gVisor...\n<6>[    0.440391] Creating cloned children...\n";
    h.cpuinfo_flags = "flags\t\t: fpu vme de pse tsc msr hypervisor";
    return h;
}

// A Proxmox CT: systemd inside reads container=lxc from PID 1's environment; lxcfs covers /proc files.
HostHints proxmox_ct() {
    HostHints h;
    h.proc_version = "Linux version 6.8.12-4-pve (build@proxmox) #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4\n";
    h.pid1_environ = std::string("PATH=/usr/sbin\0container=lxc\0TERM=linux\0", 39);
    h.container = "lxc\n";
    h.mountinfo = "50 40 0:45 / /proc/cpuinfo rw,nosuid - fuse.lxcfs lxcfs rw\n";
    h.cpuinfo_flags = "flags\t\t: fpu vme hypervisor";
    h.dmi_vendor = "QEMU\n";  // a Proxmox node that is itself a VM
    return h;
}

}  // namespace

TEST_CASE("gVisor is told by its dmesg, before the hypervisor flag it also shows", "[unit][probe]") {
    const auto host = classify(gvisor());
    CHECK(host.kind == HostKind::gvisor);
    CHECK(host.evidence == "dmesg: [    0.000000] Starting gVisor...");
}

TEST_CASE("gVisor is told by /proc/cmdline when its kernel log cannot be read", "[unit][probe]") {
    HostHints h = gvisor();
    h.dmesg.clear();
    const auto host = classify(h);
    CHECK(host.kind == HostKind::gvisor);
    CHECK(host.evidence == "/proc/cmdline: BOOT_IMAGE=/vmlinuz-4.4.0-gvisor quiet");
    h.cmdline.clear();  // an old version number alone proves nothing
    CHECK(classify(h).kind == HostKind::vm);
}

TEST_CASE("an LXC container is told by systemd's container file, PID 1's environment or lxcfs", "[unit][probe]") {
    HostHints h = proxmox_ct();
    CHECK(classify(h).kind == HostKind::lxc);
    CHECK(classify(h).evidence == "container manager: lxc");
    h.container.clear();
    CHECK(classify(h).kind == HostKind::lxc);
    h.pid1_environ = "PATH=/usr/bin";
    CHECK(classify(h).kind == HostKind::lxc);
    CHECK(classify(h).evidence == "lxcfs mounted over /proc");
    h.mountinfo = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
    CHECK(classify(h).kind == HostKind::vm);  // nothing of LXC left: the node's own QEMU shows
}

TEST_CASE("other containers, virtual machines and bare metal", "[unit][probe]") {
    HostHints docker;
    docker.pid1_environ = std::string("container=docker\0HOME=/\0", 24);
    CHECK(classify(docker).kind == HostKind::container);
    CHECK(classify(docker).evidence == "container manager: docker");

    HostHints kvm;
    kvm.dmi_vendor = "QEMU\n";
    CHECK(classify(kvm).kind == HostKind::vm);
    CHECK(classify(kvm).evidence == "DMI vendor: QEMU");
    HostHints cloud;
    cloud.cpuinfo_flags = "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic hypervisor lahf_lm";
    CHECK(classify(cloud).kind == HostKind::vm);

    HostHints metal;
    metal.dmi_vendor = "Dell Inc.\n";
    metal.cpuinfo_flags = "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic vmx smx";
    CHECK(classify(metal).kind == HostKind::bare_metal);
    CHECK(classify(HostHints{}).kind == HostKind::bare_metal);
}

TEST_CASE("the advice fits the host: nesting only for LXC, never for gVisor", "[unit][probe]") {
    CHECK_THAT(std::string(jaild::namespace_fix(HostKind::lxc)), Catch::Contains("nesting=1"));
    for (HostKind kind : {HostKind::gvisor, HostKind::container, HostKind::vm, HostKind::bare_metal})
        CHECK_THAT(std::string(jaild::namespace_fix(kind)), !Catch::Contains("nesting"));
    CHECK_THAT(std::string(jaild::namespace_fix(HostKind::gvisor)), Catch::Contains("runc"));
    CHECK_THAT(std::string(jaild::cgroup_fix(HostKind::gvisor)), Catch::Contains("no cgroup filesystem"));
    CHECK_THAT(std::string(jaild::cgroup_fix(HostKind::bare_metal)), Catch::Contains("Delegate=yes"));
    CHECK(jaild::host_name(HostKind::gvisor) == "gVisor (runsc)");
}
