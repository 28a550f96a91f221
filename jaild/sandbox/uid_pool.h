// The pool of sandbox uids. A uid is held by exactly one running sandbox, from before clone() until its
// cgroup is empty and removed, so no two running sandboxes ever share a uid (and RLIMIT_NPROC, which counts
// per uid, counts one run). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace jaild {

class UidPool {
public:
    UidPool(std::uint32_t base, std::uint32_t count);

    // A free uid, or nothing when every uid is in use. Round-robin, so a released uid is reused last.
    std::optional<std::uint32_t> acquire();
    void release(std::uint32_t uid);
    std::uint32_t in_use() const;
    std::uint32_t size() const { return static_cast<std::uint32_t>(used_.size()); }

private:
    mutable std::mutex mutex_;
    std::uint32_t base_;
    std::vector<bool> used_;
    std::uint32_t next_ = 0;
    std::uint32_t in_use_ = 0;
};

}  // namespace jaild
