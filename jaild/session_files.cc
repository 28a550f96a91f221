#include "jaild/session_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>

namespace jaild::session_files {

namespace {

std::error_code from_errno(int err) { return {err, std::system_category()}; }
std::error_code last_error() { return from_errno(errno); }

constexpr std::uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

int openat2_raw(int dirfd, const char* path, int flags, mode_t mode) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = kResolve;
    for (;;) {
        const long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);  // EAGAIN: a rename raced; retry
    }
}

// A name the system calls read as what it says: a C string ends at the first NUL, so "a\0/.." would be
// checked as one path and used as another.
bool has_nul(const std::string& path) { return path.find('\0') != std::string::npos; }

// The last component of a path an operation creates or removes: an entry of its parent, never the parent
// itself ("."), the parent's parent ("..") or nothing.
bool plain_name(const std::string& name) { return !name.empty() && name != "." && name != ".." && !has_nul(name); }

// Splits "a/b/c" into its parent "a/b" (or "") and "c".
std::pair<std::string, std::string> split(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return {"", path};
    return {path.substr(0, slash), path.substr(slash + 1)};
}

unique_fd open_dir(int dirfd, const std::string& path, std::error_code& ec) {
    if (path.empty()) {
        unique_fd fd(::fcntl(dirfd, F_DUPFD_CLOEXEC, 3));
        if (!fd) ec = last_error();
        return fd;
    }
    return open_beneath(dirfd, path, O_RDONLY | O_DIRECTORY, 0, ec);
}

template <class F>
std::error_code for_each_entry(int dir, F f) {
    const int copy = ::fcntl(dir, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) return last_error();
    DIR* stream = ::fdopendir(copy);
    if (!stream) {
        ::close(copy);
        return last_error();
    }
    ::rewinddir(stream);
    std::error_code ec;
    while (dirent* entry = ::readdir(stream)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        if ((ec = f(name))) break;
    }
    ::closedir(stream);
    return ec;
}

std::error_code copy_file(int src_dir, int dst_dir, const std::string& name, const struct stat& st, uid_t uid,
                          gid_t gid) {
    unique_fd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!in) return last_error();
    struct stat now {};
    if (::fstat(in.get(), &now) != 0) return last_error();
    if (!S_ISREG(now.st_mode) || now.st_ino != st.st_ino) return {};  // swapped under us: skip it
    unique_fd out(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                           st.st_mode & 07777 & ~06000));
    if (!out) return last_error();
    char buffer[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(in.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return last_error();
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
            const ssize_t w = ::write(out.get(), buffer + done, static_cast<std::size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return last_error();
            done += w;
        }
    }
    if (::fchown(out.get(), uid, gid) != 0) return last_error();
    const timespec times[2] = {now.st_atim, now.st_mtim};
    ::futimens(out.get(), times);
    return {};
}

std::error_code remove_entry(int dir, const std::string& name) {
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
    if (S_ISDIR(st.st_mode)) {
        unique_fd child(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child) return last_error();
        if (auto ec = clear(child.get())) return ec;
        if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) return last_error();
        return {};
    }
    if (::unlinkat(dir, name.c_str(), 0) != 0) return last_error();
    return {};
}

Entry entry_of(int dir, const std::string& name, const struct stat& st, const std::string& path) {
    Entry entry;
    entry.path = path;
    entry.size = static_cast<std::uint64_t>(st.st_size);
    entry.mtime_ms = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
    entry.mode = st.st_mode & 07777;
    if (S_ISREG(st.st_mode)) {
        entry.type = "file";
    } else if (S_ISDIR(st.st_mode)) {
        entry.type = "directory";
    } else if (S_ISLNK(st.st_mode)) {
        entry.type = "symlink";
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        const ssize_t n = ::readlinkat(dir, name.c_str(), target.data(), target.size());
        if (n >= 0) entry.symlink_target.assign(target.data(), static_cast<std::size_t>(n));
    } else {
        entry.type = "other";
    }
    return entry;
}

// The entries of dir at `depth` (0: its own) and, while depth + 1 < max_depth (0: no limit), below.
void list_into(int dir, const std::string& prefix, std::vector<Entry>& out, unsigned depth, unsigned max_depth) {
    if (depth > 64) return;
    for_each_entry(dir, [&](const std::string& name) -> std::error_code {
        struct stat st {};
        if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
        out.push_back(entry_of(dir, name, st, prefix + name));
        if (S_ISDIR(st.st_mode) && (max_depth == 0 || depth + 1 < max_depth)) {
            unique_fd child(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (child) list_into(child.get(), prefix + name + "/", out, depth + 1, max_depth);
        }
        return {};
    });
}

void sort_by_path(std::vector<Entry>& entries) {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
}

// The directory at path beneath dir, each missing component created (0755, owned by uid/gid), one at a time and
// each beneath the last.
unique_fd make_dirs(int dir, const std::string& path, uid_t uid, gid_t gid, std::error_code& ec) {
    unique_fd at(::fcntl(dir, F_DUPFD_CLOEXEC, 3));
    if (!at) ec = last_error();
    std::size_t start = 0;
    while (at && start < path.size()) {
        const std::size_t end = std::min(path.find('/', start), path.size());
        const std::string part = path.substr(start, end - start);
        if (!plain_name(part)) {
            ec = from_errno(EINVAL);
            return {};
        }
        if (::mkdirat(at.get(), part.c_str(), 0755) == 0) {
            if (::fchownat(at.get(), part.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
                ec = last_error();
                return {};
            }
        } else if (errno != EEXIST) {
            ec = last_error();
            return {};
        }
        at = open_beneath(at.get(), part, O_RDONLY | O_DIRECTORY, 0, ec);
        start = end + 1;
    }
    return at;
}

}  // namespace

unique_fd open_beneath(int dirfd, const std::string& path, int flags, mode_t mode, std::error_code& ec) {
    if (has_nul(path)) {
        ec = from_errno(EINVAL);
        return {};
    }
    unique_fd fd(openat2_raw(dirfd, path.c_str(), flags, mode));
    if (!fd) ec = last_error();
    return fd;
}

std::error_code copy_tree(int src, int dst, uid_t uid, gid_t gid, Usage& usage) {
    return for_each_entry(src, [&](const std::string& name) -> std::error_code {
        struct stat st {};
        if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
        if (S_ISDIR(st.st_mode)) {
            if (::mkdirat(dst, name.c_str(), 0755) != 0 && errno != EEXIST) return last_error();
            unique_fd from(::openat(src, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            unique_fd to(::openat(dst, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!from || !to) return last_error();
            ++usage.files;
            if (auto ec = copy_tree(from.get(), to.get(), uid, gid, usage)) return ec;
            ::fchmod(to.get(), st.st_mode & 07777 & ~06000);
            if (::fchown(to.get(), uid, gid) != 0) return last_error();
            return {};
        }
        if (S_ISLNK(st.st_mode)) {
            std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
            const ssize_t n = ::readlinkat(src, name.c_str(), target.data(), target.size());
            if (n < 0) return last_error();
            target.resize(static_cast<std::size_t>(n));
            if (::symlinkat(target.c_str(), dst, name.c_str()) != 0) return last_error();
            if (::fchownat(dst, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
            usage.bytes += static_cast<std::uint64_t>(n);
            ++usage.files;
            return {};
        }
        if (!S_ISREG(st.st_mode)) return {};  // fifos, sockets, devices: not part of a session
        if (auto ec = copy_file(src, dst, name, st, uid, gid)) return ec;
        usage.bytes += static_cast<std::uint64_t>(st.st_size);
        ++usage.files;
        return {};
    });
}

Usage usage_of(int dir) {
    Usage usage;
    for (const Entry& entry : list(dir)) {
        ++usage.files;
        if (entry.type != "directory") usage.bytes += entry.size;
    }
    return usage;
}

std::vector<Entry> list(int dir) {
    std::vector<Entry> out;
    list_into(dir, "", out, 0, 0);
    sort_by_path(out);
    return out;
}

std::vector<Entry> list_below(int dir, const std::string& path, unsigned max_depth, std::error_code& ec) {
    std::vector<Entry> out;
    unique_fd top = open_dir(dir, path, ec);
    if (!top) return out;
    list_into(top.get(), path.empty() ? "" : path + "/", out, 0, max_depth);
    sort_by_path(out);
    return out;
}

std::error_code stat_entry(int dir, const std::string& path, Entry& out) {
    struct stat st {};
    if (path.empty()) {
        if (::fstat(dir, &st) != 0) return last_error();
        out = entry_of(dir, ".", st, "");
        return {};
    }
    const auto [parent, name] = split(path);
    if (has_nul(path) || !plain_name(name)) return from_errno(EINVAL);
    std::error_code ec;
    unique_fd at = open_dir(dir, parent, ec);
    if (!at) return ec;
    if (::fstatat(at.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
    out = entry_of(at.get(), name, st, path);
    return {};
}

std::error_code make_dir(int dir, const std::string& path, uid_t uid, gid_t gid) {
    const auto [parent, name] = split(path);
    if (has_nul(path) || !plain_name(name)) return from_errno(EINVAL);
    std::error_code ec;
    unique_fd at = make_dirs(dir, parent, uid, gid, ec);
    if (!at) return ec;
    if (::mkdirat(at.get(), name.c_str(), 0755) != 0) {
        if (errno != EEXIST) return last_error();
        struct stat st {};
        if (::fstatat(at.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
        return from_errno(S_ISDIR(st.st_mode) ? EEXIST : ENOTDIR);
    }
    if (::fchownat(at.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
    return {};
}

std::error_code move(int dir, const std::string& source, const std::string& destination, uid_t uid, gid_t gid) {
    const auto [from_parent, from_name] = split(source);
    const auto [to_parent, to_name] = split(destination);
    if (has_nul(source) || has_nul(destination) || !plain_name(from_name) || !plain_name(to_name))
        return from_errno(EINVAL);
    std::error_code ec;
    unique_fd from = open_dir(dir, from_parent, ec);
    if (!from) return ec;
    struct stat st {};
    if (::fstatat(from.get(), from_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
    unique_fd to = make_dirs(dir, to_parent, uid, gid, ec);
    if (!to) return ec;
    if (::renameat(from.get(), from_name.c_str(), to.get(), to_name.c_str()) != 0) return last_error();
    return {};
}

unique_fd open_regular(int dir, const std::string& path, std::uint64_t& size, std::error_code& ec) {
    // O_NONBLOCK: a fifo planted there must not hang us before fstat refuses it.
    unique_fd fd = open_beneath(dir, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, ec);
    if (!fd) return fd;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        ec = last_error();
    else if (S_ISDIR(st.st_mode))
        ec = from_errno(EISDIR);
    else if (!S_ISREG(st.st_mode))
        ec = from_errno(EINVAL);
    if (ec) return {};
    size = static_cast<std::uint64_t>(st.st_size);
    return fd;
}

std::error_code read_file(int dir, const std::string& path, std::uint64_t max_bytes, std::string& out) {
    std::error_code ec;
    std::uint64_t size = 0;
    unique_fd fd = open_regular(dir, path, size, ec);
    if (!fd) return ec;
    if (size > max_bytes) return from_errno(EFBIG);
    out.clear();
    char buffer[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return last_error();
        if (n == 0) break;
        out.append(buffer, static_cast<std::size_t>(n));
        if (out.size() > max_bytes) return from_errno(EFBIG);
    }
    return {};
}

std::error_code write_file(int dir, const std::string& path, const std::string& content, uid_t uid, gid_t gid) {
    Upload upload;
    if (auto ec = upload.open(dir, path, uid, gid)) return ec;
    if (auto ec = upload.write(content)) return ec;
    return upload.commit();
}

Upload::~Upload() {
    if (!temp_.empty()) ::unlinkat(parent_.get(), temp_.c_str(), 0);
}

std::error_code Upload::open(int dir, const std::string& path, uid_t uid, gid_t gid) {
    const auto [parent, name] = split(path);
    if (has_nul(path) || !plain_name(name)) return from_errno(EINVAL);
    std::error_code ec;
    unique_fd at = make_dirs(dir, parent, uid, gid, ec);
    if (!at) return ec;
    struct stat existing {};
    if (::fstatat(at.get(), name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(existing.st_mode))
        return from_errno(EISDIR);  // refused before any byte is written
    parent_ = std::move(at);
    name_ = name;
    file_.reset(::openat(parent_.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
    if (!file_ && (errno == EOPNOTSUPP || errno == EISDIR)) {  // no O_TMPFILE here (EISDIR: before Linux 3.11)
        temp_ = ".jaild-upload-" + name_;
        ::unlinkat(parent_.get(), temp_.c_str(), 0);
        file_.reset(::openat(parent_.get(), temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!file_) temp_.clear();
    }
    if (!file_) return last_error();
    if (::fchown(file_.get(), uid, gid) != 0) return last_error();
    return {};
}

std::error_code Upload::write(std::string_view data) {
    if (!file_) return from_errno(EBADF);
    for (std::size_t done = 0; done < data.size();) {
        const ssize_t w = ::write(file_.get(), data.data() + done, data.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return last_error();
        done += static_cast<std::size_t>(w);
        written_ += static_cast<std::uint64_t>(w);
    }
    return {};
}

std::error_code Upload::commit() {
    if (!file_) return from_errno(EBADF);
    struct stat existing {};
    if (::fstatat(parent_.get(), name_.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(existing.st_mode))
        return from_errno(EISDIR);
    if (temp_.empty()) {
        // An unnamed file is linked under a temporary name first: linkat cannot replace a name, rename can.
        // Through /proc/self/fd, as open(2) shows: AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH.
        const std::string temp = ".jaild-upload-" + name_;
        ::unlinkat(parent_.get(), temp.c_str(), 0);
        const std::string self = "/proc/self/fd/" + std::to_string(file_.get());
        if (::linkat(AT_FDCWD, self.c_str(), parent_.get(), temp.c_str(), AT_SYMLINK_FOLLOW) != 0) return last_error();
        temp_ = temp;
    }
    if (::renameat(parent_.get(), temp_.c_str(), parent_.get(), name_.c_str()) != 0) return last_error();
    temp_.clear();
    file_.reset();
    return {};
}

std::string describe(const std::error_code& ec) {
    switch (ec.value()) {
        case ELOOP: return "the path goes through a symbolic link, which is not followed";
        case EXDEV: return "the path leaves the session's workspace";
        case EISDIR: return "is a directory";
        case ENOTDIR: return "a parent of it is not a directory";
        case EINVAL: return "not a regular file (fifos, devices and sockets are refused)";
        case EFBIG: return "larger than one frame: download it in chunks (FileGet.chunked)";
        default: return ec.message();
    }
}

std::error_code remove(int dir, const std::string& path) {
    const auto [parent, name] = split(path);
    if (has_nul(path) || !plain_name(name)) return from_errno(EINVAL);
    std::error_code ec;
    unique_fd at = open_dir(dir, parent, ec);
    if (!at) return ec;
    return remove_entry(at.get(), name);
}

std::error_code clear(int dir) {
    std::vector<std::string> names;
    if (auto ec = for_each_entry(dir, [&](const std::string& name) -> std::error_code {
            names.push_back(name);
            return {};
        }))
        return ec;
    for (const std::string& name : names)
        if (auto ec = remove_entry(dir, name)) return ec;
    return {};
}

}  // namespace jaild::session_files
