#include "jaild/zygote/confine.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "jaild/sandbox/seccomp_policy.h"

namespace jaild::zygote {

namespace {

constexpr std::array<cap_value_t, 6> kNeeded = {CAP_SYS_ADMIN, CAP_SYS_CHROOT, CAP_SETUID,
                                                CAP_SETGID,    CAP_SETPCAP,    CAP_SYS_RESOURCE};

std::error_code failed(std::string& what, const char* step) {
    what = step;
    return {errno, std::system_category()};
}

bool needed(int cap) {
    for (cap_value_t keep : kNeeded)
        if (keep == cap) return true;
    return false;
}

}  // namespace

std::error_code isolate_view(std::string& what) {
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) return failed(what, "unshare");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return failed(what, "private mounts");
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (::syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof attr) != 0)
        return failed(what, "read-only mounts");
    return {};
}

std::error_code keep_needed_capabilities(std::string& what) {
    const int last = static_cast<int>(cap_max_bits()) - 1;
    for (int cap = 0; cap <= last; ++cap) {
        if (!needed(cap) && cap_drop_bound(static_cast<cap_value_t>(cap)) != 0 && errno != EINVAL)
            return failed(what, "bounding set");
    }
    if (cap_reset_ambient() != 0) return failed(what, "ambient set");
    // Of those, the ones we have: a host that withholds one (an LXC container without CAP_SYS_RESOURCE)
    // withholds it from jaild's own sandboxes as well.
    cap_t current = cap_get_proc();
    cap_t state = cap_init();
    if (current == nullptr || state == nullptr) return failed(what, "cap_init");
    for (cap_value_t cap : kNeeded) {
        cap_flag_value_t have = CAP_CLEAR;
        cap_get_flag(current, cap, CAP_PERMITTED, &have);
        if (have != CAP_SET && cap != CAP_SYS_RESOURCE) {
            // Without it a child could not enter a sandbox: better no zygote (runs start cold) than runs that
            // fail half-way.
            char* name = cap_to_name(cap);
            what = std::string("it needs ") + (name ? name : "a capability") +
                   ", which jaild does not have (CapabilityBoundingSet= in jaild.service?)";
            cap_free(name);
            cap_free(current);
            cap_free(state);
            return {EPERM, std::system_category()};
        }
        if (have != CAP_SET) continue;
        cap_set_flag(state, CAP_PERMITTED, 1, &cap, CAP_SET);
        cap_set_flag(state, CAP_EFFECTIVE, 1, &cap, CAP_SET);
    }
    cap_free(current);
    const int rc = cap_set_proc(state);
    const int err = errno;
    cap_free(state);
    errno = err;
    return rc == 0 ? std::error_code{} : failed(what, "capabilities");
}

const char* needed_capabilities_text() {
    return "cap_sys_admin,cap_sys_chroot,cap_setuid,cap_setgid,cap_setpcap,cap_sys_resource";
}

std::error_code load_loop_filter(std::string& what) {
    static const seccomp::Filter filter = seccomp::Filter::compile({"setns"});
    if (const int err = seccomp::apply(filter.program())) {
        what = "seccomp";
        return {err, std::system_category()};
    }
    return {};
}

}  // namespace jaild::zygote
