#include "jaild/sandbox/netns_pool.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace jaild {

NetnsPool::NetnsPool(std::size_t depth) : depth_(depth), thread_([this] { fill(); }) {}

NetnsPool::~NetnsPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

unique_fd NetnsPool::take() {
    unique_fd out;
    {
        std::lock_guard lock(mutex_);
        if (ready_.empty()) return out;
        out = std::move(ready_.front());
        ready_.pop_front();
    }
    wake_.notify_one();
    return out;
}

unique_fd NetnsPool::make(int& err) {
    // unshare(CLONE_NEWNET) moves only the calling thread, which is this pool's own and never uses the
    // network; the namespace lives on through the descriptor once the thread moves to the next one.
    auto failed = [&err] {
        err = errno;
        return unique_fd();
    };
    if (::unshare(CLONE_NEWNET) != 0) return failed();
    unique_fd ns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!ns) return failed();
    unique_fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return failed();
    ifreq request{};
    std::memcpy(request.ifr_name, "lo", 3);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) return failed();
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) return failed();
    return ns;
}

void NetnsPool::fill() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || ready_.size() < depth_; });
        if (stopping_) return;
        lock.unlock();
        int err = 0;
        unique_fd ns = make(err);
        lock.lock();
        if (!ns) {
            // Without CAP_SYS_ADMIN or CAP_NET_ADMIN every later try would fail the same way: runs create
            // their namespace in the clone instead, as without the pool.
            spdlog::warn("cannot prepare network namespaces: {}; each run creates its own in the clone",
                         std::strerror(err));
            return;
        }
        ready_.push_back(std::move(ns));
    }
}

}  // namespace jaild
