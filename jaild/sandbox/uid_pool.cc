#include "jaild/sandbox/uid_pool.h"

#include <stdexcept>

namespace jaild {

UidPool::UidPool(std::uint32_t base, std::uint32_t count) : base_(base), used_(count / 2, false) {
    if (used_.empty()) throw std::invalid_argument("uid pool needs at least one pair of uids");
}

std::optional<std::uint32_t> UidPool::acquire() {
    const std::lock_guard lock(mutex_);
    const auto size = static_cast<std::uint32_t>(used_.size());
    for (std::uint32_t i = 0; i < size; ++i) {
        const std::uint32_t slot = (next_ + i) % size;
        if (used_[slot]) continue;
        used_[slot] = true;
        next_ = (slot + 1) % size;
        ++in_use_;
        return base_ + 2 * slot;
    }
    return std::nullopt;
}

void UidPool::release(std::uint32_t program) {
    const std::lock_guard lock(mutex_);
    const std::uint32_t offset = program - base_;
    const std::uint32_t slot = offset / 2;
    if (program < base_ || offset % 2 != 0 || slot >= used_.size() || !used_[slot])
        throw std::logic_error("release of a uid not held");
    used_[slot] = false;
    --in_use_;
}

std::uint32_t UidPool::in_use() const {
    const std::lock_guard lock(mutex_);
    return 2 * in_use_;
}

std::uint32_t UidPool::pairs_in_use() const {
    const std::lock_guard lock(mutex_);
    return in_use_;
}

}  // namespace jaild
