#include "jaild/sandbox/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/linux_compat.h"

namespace jaild::mounts {

namespace {

int errno_of(int rc) noexcept { return rc == 0 ? 0 : errno; }

int write_all(int fd, const char* data, std::size_t len) noexcept {
    while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data += n;
        len -= static_cast<std::size_t>(n);
    }
    return 0;
}

int create_file(const Op& op) noexcept {
    // O_EXCL|O_NOFOLLOW: the new root is a fresh tmpfs, so anything already there is a bug, never followed.
    const int fd = ::open(op.target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, op.mode);
    if (fd < 0) return errno;
    int err = write_all(fd, op.content, op.content_len);
    // The umask could have narrowed the mode; executables must stay executable. Before the chown: changing
    // the mode of a file we no longer own would need CAP_FOWNER, which jaild.service does not give.
    if (err == 0 && ::fchmod(fd, op.mode) != 0) err = errno;
    if (err == 0 && (op.uid != 0 || op.gid != 0) && ::fchown(fd, op.uid, op.gid) != 0) err = errno;
    ::close(fd);
    return err;
}

// A bind mount takes its flags only on a second, remounting call (mount(2): MS_REMOUNT|MS_BIND). MS_REC
// keeps mounts beneath the source visible (a non-recursive self-bind of /dev would hide /dev/null), while
// the flags apply to the top mount only.
int bind(const Op& op, unsigned long extra = 0, bool remount_refused = false) noexcept {
    if (::mount(op.source, op.target, nullptr, MS_BIND | extra, nullptr) != 0) return errno;
    const int err = errno_of(::mount(nullptr, op.target, nullptr, MS_BIND | MS_REMOUNT | op.flags, nullptr));
    return err == EINVAL && remount_refused ? 0 : err;
}

// A tmpfs; where the kernel lacks an option (gVisor: nr_inodes), once more without it. The options are copied
// into a buffer of our own (no allocation: this runs in the child).
int tmpfs(const Op& op, bool remount_refused) noexcept {
    if (::mount("tmpfs", op.target, "tmpfs", op.flags, op.data) == 0) return 0;
    if (errno != EINVAL || !remount_refused || op.data == nullptr) return errno;
    char options[256];
    std::size_t out = 0;
    for (const char* option = op.data; *option != '\0';) {
        const char* end = option;
        while (*end != '\0' && *end != ',') ++end;
        const std::size_t length = static_cast<std::size_t>(end - option);
        const bool skip = length >= 9 && std::memcmp(option, "nr_inodes", 9) == 0;
        if (!skip) {
            if (out + length + 2 > sizeof options) return EINVAL;
            if (out > 0) options[out++] = ',';
            std::memcpy(options + out, option, length);
            out += length;
        }
        option = *end == ',' ? end + 1 : end;
    }
    options[out] = '\0';
    return errno_of(::mount("tmpfs", op.target, "tmpfs", op.flags, options));
}

int apply_one(const Op& op, bool remount_refused) noexcept {
    using K = Op::Kind;
    switch (op.kind) {
        case K::mkdir: return (::mkdir(op.target, op.mode) == 0 || errno == EEXIST) ? 0 : errno;
        case K::touch: return create_file(op);
        case K::symlink: return errno_of(::symlink(op.source, op.target));
        case K::tmpfs: return tmpfs(op, remount_refused);
        case K::bind: return bind(op, 0, remount_refused);
        case K::proc: return errno_of(::mount("proc", op.target, "proc", op.flags, op.data));
        case K::devpts: return errno_of(::mount("devpts", op.target, "devpts", op.flags, op.data));
        case K::mask_dir:
            return errno_of(::mount("tmpfs", op.target, "tmpfs", MS_RDONLY | op.flags, "size=0,mode=0555"));
        case K::readonly: {
            if (remount_refused) return 0;  // /proc's writable files are root's, and the run has no capability
            Op self = op;
            self.source = op.target;
            return bind(self, MS_REC);
        }
        case K::write_file: return create_file(op);
        case K::chown: return errno_of(::chown(op.target, op.uid, op.gid));
    }
    return EINVAL;
}

}  // namespace

bool propagation_already_private(std::string_view mountinfo) {
    std::size_t at = 0;
    while (at < mountinfo.size()) {
        std::size_t end = mountinfo.find('\n', at);
        if (end == std::string_view::npos) end = mountinfo.size();
        const std::string_view line = mountinfo.substr(at, end - at);
        // The optional fields sit between the mount options (field 6) and the " - " separator.
        const std::string_view head = line.substr(0, line.find(" - "));
        for (std::string_view tag : {" shared:", " master:", " propagate_from:"}) {
            if (head.find(tag) != std::string_view::npos) return false;
        }
        at = end + 1;
    }
    return !mountinfo.empty();
}

bool own_propagation_already_private() {
    std::ifstream in("/proc/self/mountinfo");
    std::ostringstream text;
    text << in.rdbuf();
    return propagation_already_private(text.str());
}

int make_private(bool already_private) noexcept {
    const int err = errno_of(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
    return err == EINVAL && already_private ? 0 : err;
}

int apply(const Op* ops, std::size_t count, std::size_t* failed, bool remount_refused) noexcept {
    for (std::size_t i = 0; i < count; ++i) {
        const int err = apply_one(ops[i], remount_refused);
        if (err == 0 || (err == ENOENT && ops[i].optional)) continue;
        *failed = i;
        return err;
    }
    return 0;
}

int pivot(const char* new_root, bool remount_refused) noexcept {
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then removes it, so no
    // directory for the old root is needed (pivot_root(2), NOTES).
    if (::chdir(new_root) != 0) return errno;
    if (sys::pivot_root(".", ".") != 0) {
        if (errno != EINVAL || !remount_refused) return errno;
        // gVisor: the old root stays mounted in this namespace, out of reach of a process without CAP_SYS_CHROOT.
        if (::chroot(".") != 0) return errno;
        return errno_of(::chdir("/"));
    }
    if (::umount2(".", MNT_DETACH) != 0) return errno;
    return errno_of(::chdir("/"));
}

int enter_chroot(const char* new_root) noexcept {
    if (::chdir(new_root) != 0) return errno;
    if (::chroot(".") != 0) return errno;
    return errno_of(::chdir("/"));
}

int make_root_readonly(bool remount_refused) noexcept {
    const int err =
        errno_of(::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr));
    return err == EINVAL && remount_refused ? 0 : err;
}

int try_bind_remount(const char* mount_point, bool propagation_already_private, bool in_own_namespace) noexcept {
    clone_args args{};
    args.flags = in_own_namespace ? 0 : CLONE_NEWNS;
    args.exit_signal = SIGCHLD;
    const long pid = sys::clone3_or_clone(&args);
    if (pid < 0) return errno;
    if (pid == 0) {
        if (!in_own_namespace) {
            if (const int err = make_private(propagation_already_private)) ::_exit(err);
        }
        if (::mount("tmpfs", mount_point, "tmpfs", 0, "size=16k,mode=0755") != 0) ::_exit(errno);
        int made = 1;
        int err = errno_of(::mount(mount_point, mount_point, nullptr, MS_BIND, nullptr));
        if (err == 0) {
            ++made;
            err = errno_of(::mount(nullptr, mount_point, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr));
        }
        // In jaild's namespace: both mounts, the bind stacked on the tmpfs, taken away again.
        for (; in_own_namespace && made > 0; --made) ::umount2(mount_point, MNT_DETACH);
        ::_exit(err);
    }
    int status = 0;
    while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
}

}  // namespace jaild::mounts
