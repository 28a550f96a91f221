// Fresh network namespaces made ahead of the runs that need them, each with its loopback up. Creating one is
// the dearest part of a sandbox's clone (setup_net runs every protocol's per-namespace init; bench/README.md),
// and nothing in it depends on the run, so a helper thread makes them while runs wait for nothing. Each
// namespace serves exactly one run and is never reused: the isolation is that of a clone(CLONE_NEWNET).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"

namespace jaild {

class NetnsPool {
public:
    // Starts the helper thread, which keeps `depth` namespaces ready.
    explicit NetnsPool(std::size_t depth);
    ~NetnsPool();  // stops the thread; the namespaces not handed out are closed (and freed by the kernel)
    NetnsPool(const NetnsPool&) = delete;

    // A ready namespace (an fd of /proc/thread-self/ns/net, for setns) or an empty fd when none is ready
    // yet or the pool could not make one: the caller then clones with CLONE_NEWNET. Any thread.
    unique_fd take();

private:
    void fill();  // the helper thread
    // One namespace with lo up, made by unsharing this thread's network namespace. Empty on failure (err).
    static unique_fd make(int& err);

    const std::size_t depth_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<unique_fd> ready_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace jaild
