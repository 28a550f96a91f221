#include "jaild/socket_claim.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "jaild/uid_range_lock.h"

namespace jaild {

namespace {

std::string error_text() { return std::strerror(errno); }

// True when something accepts a connection on the socket at `path` (ECONNREFUSED: nobody listens). Without
// blocking: a listener whose backlog is full (it does not accept, and earlier checks queued connections) answers
// EAGAIN, which also means it is there.
bool answers(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
        throw std::runtime_error(fmt::format("socket path {} is too long", path));
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw std::runtime_error("socket: " + error_text());
    return ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 || errno == EAGAIN;
}

std::string in_use(const std::string& path, std::string_view how) {
    return fmt::format("socket {} is in use by another jaild ({}): stop it first or set another [server] socket", path,
                       how);
}

}  // namespace

SocketClaim::SocketClaim(std::string path) : path_(std::move(path)) {
    if (const auto parent = std::filesystem::path(path_).parent_path(); !parent.empty())
        std::filesystem::create_directories(parent);
    const std::string lock_path = path_ + ".lock";
    lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!lock_) throw std::runtime_error(fmt::format("cannot open {}: {}", lock_path, error_text()));
    const auto give_up = std::chrono::steady_clock::now() + kPredecessorGrace;
    const auto wait_more = [&] {
        if (std::chrono::steady_clock::now() >= give_up) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return true;
    };
    while (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) throw std::runtime_error(fmt::format("cannot lock {}: {}", lock_path, error_text()));
        if (!wait_more()) throw SocketInUse(in_use(path_, "it holds " + lock_path));
    }
    struct stat st {};
    if (::lstat(path_.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        throw std::runtime_error(fmt::format("cannot check {}: {}", path_, error_text()));
    }
    if (!S_ISSOCK(st.st_mode))
        throw SocketInUse(
            fmt::format("{} exists and is not a socket: remove it or set another [server] socket", path_));
    while (answers(path_))
        if (!wait_more()) throw SocketInUse(in_use(path_, "it accepted a connection"));
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
        throw std::runtime_error(fmt::format("cannot remove the stale socket {}: {}", path_, error_text()));
}

SocketClaim::~SocketClaim() { release(); }

void SocketClaim::bound() {
    struct stat st {};
    if (::lstat(path_.c_str(), &st) != 0) throw std::runtime_error(fmt::format("{}: {}", path_, error_text()));
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    bound_ = true;
}

bool SocketClaim::release() noexcept {
    if (!bound_) return false;
    bound_ = false;
    struct stat st {};
    if (::lstat(path_.c_str(), &st) != 0 || st.st_dev != dev_ || st.st_ino != ino_) return false;
    return ::unlink(path_.c_str()) == 0;
}

}  // namespace jaild
