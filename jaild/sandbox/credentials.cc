#include "jaild/sandbox/credentials.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace jaild::credentials {

int apply(std::uint32_t uid, std::uint32_t gid, std::uint32_t reaper_uid, std::uint32_t reaper_gid) noexcept {
    // Groups first: after setresuid we no longer have CAP_SETGID.
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) return errno;
    if (::syscall(SYS_setresgid, reaper_gid, gid, reaper_gid) != 0) return errno;
    if (::syscall(SYS_setresuid, reaper_uid, uid, reaper_uid) != 0) return errno;
    return 0;
}

}  // namespace jaild::credentials
