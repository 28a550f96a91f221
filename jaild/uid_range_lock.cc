#include "jaild/uid_range_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace jaild {

namespace {

struct flock range_lock(short type, std::uint32_t base, std::uint32_t count) {
    struct flock lock {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = static_cast<off_t>(base);
    lock.l_len = static_cast<off_t>(count);
    lock.l_pid = 0;  // F_OFD_*: must be 0
    return lock;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

// Ours alone: owned by our user, writable by no group or other.
void check_owned(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("cannot check " + path);
    if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        throw std::runtime_error(
            fmt::format("{} is not this user's alone (owner uid {}, mode {:o}): remove it and "
                        "start again",
                        path, st.st_uid, st.st_mode & 07777));
}

unique_fd open_dir(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create " + dir);
    unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) fail("cannot open " + dir);
    check_owned(fd.get(), dir);
    return fd;
}

// What the holder of the lock at `base` wrote: "<socket>\n<pid>\n<count>\n".
std::string describe_holder(int dir, off_t base, off_t length) {
    const std::string unknown = fmt::format("another jaild (uids {}..{}; its socket unknown)", base, base + length - 1);
    unique_fd fd(::openat(dir, fmt::format("uids.{}", base).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return unknown;
    char text[512];
    const ssize_t n = ::read(fd.get(), text, sizeof text - 1);
    if (n <= 0) return unknown;
    const std::string record(text, static_cast<std::size_t>(n));
    const std::size_t end_socket = record.find('\n');
    const std::size_t end_pid = record.find('\n', end_socket + 1);
    if (end_socket == 0 || end_socket == std::string::npos || end_pid == std::string::npos) return unknown;
    return fmt::format("the jaild answering on {} (pid {}, uids {}..{})", record.substr(0, end_socket),
                       record.substr(end_socket + 1, end_pid - end_socket - 1), base, base + length - 1);
}

// The record a later jaild reads: written whole under a temporary name, then renamed into place.
void write_record(int dir, const std::string& name, const std::string& text, const std::string& dir_path) {
    const std::string temp = name + ".tmp";
    ::unlinkat(dir, temp.c_str(), 0);
    unique_fd fd(::openat(dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) fail(fmt::format("cannot write {}/{}", dir_path, temp));
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        fail(fmt::format("cannot write {}/{}", dir_path, temp));
    if (::renameat(dir, temp.c_str(), dir, name.c_str()) != 0) fail(fmt::format("cannot write {}/{}", dir_path, name));
}

}  // namespace

UidRangeLock::UidRangeLock(std::uint32_t base, std::uint32_t count, const std::string& socket,
                           const std::string& lock_dir, std::chrono::milliseconds grace)
    : dir_(open_dir(lock_dir)) {
    const std::string lock_file = lock_dir + "/uids";
    fd_.reset(::openat(dir_.get(), "uids", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd_) fail("cannot open the uid lock " + lock_file);
    check_owned(fd_.get(), lock_file);
    struct flock lock = range_lock(F_WRLCK, base, count);
    const auto give_up = std::chrono::steady_clock::now() + grace;
    // Open file description locks, which gVisor lacks (EINVAL): there, the process's own POSIX locks, which
    // serve as well (jaild opens this file once and holds it until it exits; its children do not inherit them).
    int set_lock = F_OFD_SETLK, get_lock = F_OFD_GETLK;
    while (::fcntl(fd_.get(), set_lock, &lock) != 0) {
        if (errno == EINVAL && set_lock == F_OFD_SETLK) {
            set_lock = F_SETLK;
            get_lock = F_GETLK;
            continue;
        }
        if (errno != EAGAIN && errno != EACCES) fail("cannot lock uids in " + lock_file);
        if (std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        struct flock holder = range_lock(F_WRLCK, base, count);
        const bool known = ::fcntl(fd_.get(), get_lock, &holder) == 0 && holder.l_type != F_UNLCK;
        throw UidRangeTaken(fmt::format(
            "uids {}..{} overlap those of {}: give this jaild another [sandbox] uid_base (two jailds must "
            "never share sandbox uids)",
            base, std::uint64_t(base) + count - 1,
            known ? describe_holder(dir_.get(), holder.l_start, holder.l_len) : std::string("another jaild")));
    }
    record_ = fmt::format("uids.{}", base);
    write_record(dir_.get(), record_, fmt::format("{}\n{}\n{}\n", socket, ::getpid(), count), lock_dir);
}

UidRangeLock::~UidRangeLock() {
    if (!record_.empty()) ::unlinkat(dir_.get(), record_.c_str(), 0);
}

}  // namespace jaild
