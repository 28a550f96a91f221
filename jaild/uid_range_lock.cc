#include "jaild/uid_range_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
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

// What the holder of the lock at `base` wrote: "<socket>\n<pid>\n<count>\n".
std::string describe_holder(const std::string& records, off_t base, off_t length) {
    std::ifstream in(fmt::format("{}/{}", records, base));
    std::string socket, pid;
    if (!std::getline(in, socket) || !std::getline(in, pid) || socket.empty())
        return fmt::format("another jaild (uids {}..{}; its socket unknown)", base, base + length - 1);
    return fmt::format("the jaild answering on {} (pid {}, uids {}..{})", socket, pid, base, base + length - 1);
}

}  // namespace

UidRangeLock::UidRangeLock(std::uint32_t base, std::uint32_t count, const std::string& socket,
                           const std::string& lock_file) {
    const std::string records = lock_file + ".d";
    fd_.reset(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd_) fail("cannot open the uid lock " + lock_file);
    struct flock lock = range_lock(F_WRLCK, base, count);
    const auto give_up = std::chrono::steady_clock::now() + kPredecessorGrace;
    while (::fcntl(fd_.get(), F_OFD_SETLK, &lock) != 0) {
        if (errno != EAGAIN && errno != EACCES) fail("cannot lock uids in " + lock_file);
        if (std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        struct flock holder = range_lock(F_WRLCK, base, count);
        const bool known = ::fcntl(fd_.get(), F_OFD_GETLK, &holder) == 0 && holder.l_type != F_UNLCK;
        throw UidRangeTaken(
            fmt::format("uids {}..{} overlap those of {}: give this jaild another [sandbox] uid_base (two jailds must "
                        "never share sandbox uids)",
                        base, std::uint64_t(base) + count - 1,
                        known ? describe_holder(records, holder.l_start, holder.l_len) : std::string("another jaild")));
    }
    if (::mkdir(records.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create " + records);
    record_ = fmt::format("{}/{}", records, base);
    const std::string temp = record_ + ".tmp";
    std::ofstream(temp, std::ios::trunc) << socket << '\n' << ::getpid() << '\n' << count << '\n';
    if (::rename(temp.c_str(), record_.c_str()) != 0) fail("cannot write " + record_);
}

UidRangeLock::~UidRangeLock() {
    if (!record_.empty()) ::unlink(record_.c_str());
}

}  // namespace jaild
