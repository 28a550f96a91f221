// The mount operations that build a sandbox's root. rootfs.cc prepares the list in the parent (once at
// start for the fixed part, per run for sizes and synthesized files); the child applies it with apply().
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jaild::mounts {

struct Op {
    enum class Kind : std::uint8_t {
        mkdir,       // target, mode
        touch,       // an empty file to bind a file onto
        symlink,     // source = link text, target = link path
        tmpfs,       // target, data = "size=..,mode=..", flags
        bind,        // source onto target, then remount with flags (MS_RDONLY etc.)
        proc,        // a fresh procfs at target
        devpts,      // a new devpts instance at target, data = its options
        mask_dir,    // an empty read-only tmpfs over target
        readonly,    // bind target onto itself read-only
        write_file,  // content/content_len into target, mode, owner uid/gid
        chown,       // target to uid/gid
    };
    Kind kind;
    const char* source = nullptr;
    const char* target = nullptr;
    const char* data = nullptr;
    unsigned long flags = 0;
    mode_t mode = 0;
    bool optional = false;  // ENOENT on the target is not an error (masks of /proc entries a kernel lacks)
    const char* content = nullptr;
    std::size_t content_len = 0;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};

// Parent: whether no mount of a mountinfo text (/proc/self/mountinfo) takes part in propagation: none has a
// "shared:", "master:" or "propagate_from:" field, so making them all private would change nothing.
bool propagation_already_private(std::string_view mountinfo);
// Parent: propagation_already_private() of jaild's own mount namespace now ("" unread: false).
bool own_propagation_already_private();

// Child: makes every mount private to this namespace (systemd makes / shared; pivot_root refuses shared
// mounts and a shared mount would leak ours to the host). `already_private`: the parent found no propagation
// in the namespace this one copies (propagation_already_private), so a kernel that refuses the change
// with EINVAL (gVisor, which has no propagation at all) has nothing to change, and that is no error.
int make_private(bool already_private) noexcept;

// Child: applies ops in order. Returns 0, or errno with *failed set to the index of the failing op.
// `remount_refused`: the kernel refuses remounts and recursive binds with EINVAL (gVisor; Spawner detects it
// at start): a bind then stays as bound (writable, but only by its owner: the runtime is root's and a run is
// not), a read-only self-bind is skipped, and a tmpfs option the kernel lacks (nr_inodes) is left out.
int apply(const Op* ops, std::size_t count, std::size_t* failed, bool remount_refused = false) noexcept;

// Child: pivot_root into new_root, detach the old root, and make the new root read-only. With `remount_refused`
// (gVisor, which refuses pivot_root and remounts too) a chroot into new_root instead, in the run's own mount
// namespace, and the root left as mounted (root's, mode 0755).
int pivot(const char* new_root, bool remount_refused = false) noexcept;
int make_root_readonly(bool remount_refused = false) noexcept;

// Parent, at start: whether this kernel refuses a read-only remount of a bind mount with EINVAL (gVisor), tried
// in a child on a tmpfs at `mount_point`: in a new mount namespace, or (`in_own_namespace`: chroot mode, where
// namespaces are refused) in jaild's, unmounted again before the child ends. Returns that errno, or 0.
int try_bind_remount(const char* mount_point, bool propagation_already_private, bool in_own_namespace) noexcept;
// Child, chroot mode (no mount namespace: new_root was built in jaild's): chroot into new_root, at its "/".
int enter_chroot(const char* new_root) noexcept;

}  // namespace jaild::mounts
