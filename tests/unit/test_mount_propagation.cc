// Whether a mount namespace has any propagation to undo: what decides that gVisor's EINVAL on
// `mount --make-rprivate /` is harmless (mounts::make_private). Fed with real mountinfo texts.
#include <catch2/catch.hpp>

#include "jaild/sandbox/mounts.h"

using jaild::mounts::propagation_already_private;

TEST_CASE("gVisor's mountinfo has no propagation; a systemd host's and a slave namespace's have", "[unit][mounts]") {
    // What `runsc do` shows inside its sandbox (Debian's 2022 release): no optional fields at all.
    CHECK(
        propagation_already_private("10 10 0:10 / / rw  - overlay none rw\n"
                                    "11 10 0:11 / /sys rw  - sysfs none rw,dentry_cache_limit=1000\n"
                                    "12 10 0:6 / /dev rw  - tmpfs none rw,mode=0755\n"
                                    "13 10 0:12 / /proc rw  - proc none rw,dentry_cache_limit=1000\n"));
    // systemd makes / shared.
    CHECK_FALSE(propagation_already_private("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"));
    // jaild's own namespace after unshare: slaves of the host's mounts still receive its new mounts.
    CHECK_FALSE(propagation_already_private("300 299 8:1 / / rw,relatime master:1 - ext4 /dev/sda1 rw\n"));
    CHECK_FALSE(
        propagation_already_private("1 0 0:5 / / rw - tmpfs none rw\n"
                                    "2 1 0:6 / /x rw master:3 propagate_from:2 - tmpfs none rw\n"));
    // A private mount in a namespace that has one shared mount elsewhere is not enough.
    CHECK_FALSE(
        propagation_already_private("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                                    "23 22 0:21 / /run rw,nosuid shared:5 - tmpfs tmpfs rw\n"));
}

TEST_CASE("only the optional fields count, and an unread mountinfo proves nothing", "[unit][mounts]") {
    // "shared:" after the separator is a source or a super option, not propagation.
    CHECK(propagation_already_private("40 22 0:35 / /mnt rw - nfs host:/export/shared:1 rw\n"));
    CHECK_FALSE(propagation_already_private(""));
}
