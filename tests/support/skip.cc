#include "tests/support/skip.h"

#include <atomic>
#include <catch2/catch.hpp>

namespace jaild::test {

namespace {

std::atomic<bool> marked{false};

}  // namespace

void skip(const std::string& why) {
    WARN("SKIPPED: " << why);
    marked = true;
}

bool take_skip_mark() { return marked.exchange(false); }

}  // namespace jaild::test
