#include "gateway/keys_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace jaild::gateway {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxFileBytes = 16 << 20;
constexpr mode_t kNewFileMode = 0640;

[[noreturn]] void fail_errno(const std::string& what, const std::string& path) {
    throw KeysFileError(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

// The file a write replaces: the target of a symlink, else `path` itself.
fs::path resolve(const std::string& path) {
    std::error_code ec;
    const fs::path real = fs::canonical(path, ec);
    return ec ? fs::path(path) : real;
}

fs::path directory_of(const fs::path& file) { return file.has_parent_path() ? file.parent_path() : fs::path("."); }

std::string read_all(int fd, const std::string& path) {
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) fail_errno("cannot read", path);
        if (got == 0) return text;
        text.append(buffer, static_cast<std::size_t>(got));
        if (text.size() > kMaxFileBytes) throw KeysFileError(path + ": larger than 16 MiB");
    }
}

void write_all(int fd, const std::string& text, const std::string& path) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t put = ::write(fd, text.data() + done, text.size() - done);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) fail_errno("cannot write", path);
        done += static_cast<std::size_t>(put);
    }
}

// The temporary file's content, owner and mode, then its data on disk. Throws KeysFileError.
void fill_temporary(int fd, const std::string& temporary, const std::string& text, const fs::path& target) {
    struct stat old {};
    mode_t mode = kNewFileMode;
    if (::stat(target.c_str(), &old) == 0) {
        mode = old.st_mode & 07777;
        if ((old.st_uid != ::geteuid() || old.st_gid != ::getegid()) && ::fchown(fd, old.st_uid, old.st_gid) != 0)
            fail_errno(
                fmt::format("cannot give the new file {}'s owner {}:{}:", target.string(), old.st_uid, old.st_gid),
                temporary);
    } else if (errno != ENOENT) {
        fail_errno("cannot stat", target.string());
    }
    if (::fchmod(fd, mode) != 0) fail_errno("cannot chmod", temporary);
    write_all(fd, text, temporary);
    if (::fsync(fd) != 0) fail_errno("cannot fsync", temporary);
}

}  // namespace

TenantKeys load_keys_file(const std::string& path, bool missing_ok) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd && errno == ENOENT && missing_ok) return {};
    if (!fd) fail_errno("cannot open keys file", path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail_errno("cannot stat", path);
    if (!S_ISREG(st.st_mode)) throw KeysFileError(path + ": not a regular file");
    if (st.st_mode & (S_IROTH | S_IWOTH))
        throw KeysFileError(
            fmt::format("{}: refused: mode {:04o} lets every user {} it (chmod o-rw {}; the "
                        "packaged layout is root:jaild 0640)",
                        path, st.st_mode & 07777, st.st_mode & S_IROTH ? "read" : "change", path));
    return parse_tenant_keys(read_all(fd.get(), path), path);
}

void save_keys_file(const std::string& path, const TenantKeys& keys) {
    const fs::path target = resolve(path);
    const std::string name = target.filename().string();
    std::string temporary = (directory_of(target) / ("." + name + ".tmp-XXXXXX")).string();
    unique_fd fd(::mkostemp(temporary.data(), O_CLOEXEC));
    if (!fd) fail_errno("cannot create a temporary file beside", target.string());
    try {
        fill_temporary(fd.get(), temporary, render_tenant_keys(keys), target);
        if (::close(fd.release()) != 0) fail_errno("cannot close", temporary);
        if (::rename(temporary.c_str(), target.c_str()) != 0) fail_errno("cannot rename over", target.string());
    } catch (...) {
        ::unlink(temporary.c_str());
        throw;
    }
    // The rename itself reaches the disk with the directory.
    unique_fd dir(::open(directory_of(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir || ::fsync(dir.get()) != 0) fail_errno("cannot fsync the directory of", target.string());
}

KeysFileLock::KeysFileLock(const std::string& path) {
    const fs::path directory = directory_of(resolve(path));
    dir_.reset(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_) fail_errno("cannot open the directory", directory.string());
    while (::flock(dir_.get(), LOCK_EX) != 0)
        if (errno != EINTR) fail_errno("cannot lock the directory", directory.string());
}

}  // namespace jaild::gateway
