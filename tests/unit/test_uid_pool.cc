// The sandbox uid pool: no two holders ever share a uid, round-robin reuse, and misuse is loud.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "jaild/sandbox/uid_pool.h"

using jaild::UidPool;

TEST_CASE("acquire hands out every uid of the range once, then nothing", "[unit][uid_pool]") {
    constexpr std::uint32_t base = 60'000, count = 16;
    UidPool pool(base, count);
    std::set<std::uint32_t> seen;
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto uid = pool.acquire();
        REQUIRE(uid.has_value());
        CHECK(*uid >= base);
        CHECK(*uid < base + count);
        CHECK(seen.insert(*uid).second);
        CHECK(pool.in_use() == i + 1);
    }
    CHECK(seen.size() == count);
    CHECK_FALSE(pool.acquire().has_value());
    CHECK_FALSE(pool.acquire().has_value());  // still nothing, and the count did not move
    CHECK(pool.in_use() == count);
}

TEST_CASE("release makes exactly that uid available again", "[unit][uid_pool]") {
    UidPool pool(1'000, 4);
    std::vector<std::uint32_t> held;
    while (auto uid = pool.acquire()) held.push_back(*uid);
    REQUIRE(held.size() == 4);

    pool.release(held[2]);
    CHECK(pool.in_use() == 3);
    const auto again = pool.acquire();
    REQUIRE(again.has_value());
    CHECK(*again == held[2]);
    CHECK_FALSE(pool.acquire().has_value());
}

TEST_CASE("a released uid is handed out last while others are free", "[unit][uid_pool]") {
    UidPool pool(500, 4);
    const auto first = pool.acquire();
    REQUIRE(first.has_value());
    pool.release(*first);
    // Three other uids are free: they all come before the one just released.
    std::set<std::uint32_t> next;
    for (int i = 0; i < 3; ++i) {
        const auto uid = pool.acquire();
        REQUIRE(uid.has_value());
        CHECK(*uid != *first);
        next.insert(*uid);
    }
    CHECK(next.size() == 3);
    const auto last = pool.acquire();
    REQUIRE(last.has_value());
    CHECK(*last == *first);
}

TEST_CASE("round-robin keeps going past a uid released in the middle", "[unit][uid_pool]") {
    UidPool pool(10, 5);
    const auto a = pool.acquire(), b = pool.acquire(), c = pool.acquire();
    REQUIRE((a && b && c));
    pool.release(*b);
    const auto d = pool.acquire();
    REQUIRE(d.has_value());
    CHECK(*d != *b);  // the uid after c, not b again
    CHECK(*d == *c + 1);
}

TEST_CASE("release of a uid not held throws", "[unit][uid_pool]") {
    UidPool pool(2'000, 3);
    CHECK_THROWS_AS(pool.release(2'000), std::logic_error);  // in range, never acquired
    const auto uid = pool.acquire();
    REQUIRE(uid.has_value());
    CHECK_THROWS_AS(pool.release(*uid + 1), std::logic_error);
    CHECK_THROWS_AS(pool.release(1'999), std::logic_error);  // below the range
    CHECK_THROWS_AS(pool.release(2'003), std::logic_error);  // just past the range
    CHECK_THROWS_AS(pool.release(0), std::logic_error);
    pool.release(*uid);
    CHECK_THROWS_AS(pool.release(*uid), std::logic_error);  // twice
    CHECK(pool.in_use() == 0);
}

TEST_CASE("a pool of no uids is refused", "[unit][uid_pool]") {
    CHECK_THROWS_AS(UidPool(1'000, 0), std::invalid_argument);
}

TEST_CASE("concurrent acquire and release never give one uid to two holders", "[unit][uid_pool]") {
    constexpr std::uint32_t base = 70'000, count = 3;  // fewer uids than threads: exhaustion happens too
    constexpr int threads = 4, rounds = 20'000;
    UidPool pool(base, count);
    std::atomic<int> holders[count] = {};
    std::atomic<int> shared{0}, out_of_range{0}, acquired{0}, refused{0};

    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < rounds; ++i) {
                const auto uid = pool.acquire();
                if (!uid) {
                    ++refused;
                    std::this_thread::yield();
                    continue;
                }
                if (*uid < base || *uid >= base + count) {
                    ++out_of_range;
                    continue;
                }
                std::atomic<int>& holder = holders[*uid - base];
                if (holder.fetch_add(1) != 0) ++shared;
                ++acquired;
                if (i % 7 == 0) std::this_thread::yield();  // hold it a little while others run
                holder.fetch_sub(1);
                pool.release(*uid);
            }
        });
    }
    for (auto& worker : workers) worker.join();

    CHECK(shared == 0);
    CHECK(out_of_range == 0);
    CHECK(acquired > 0);
    CHECK(acquired + refused == threads * rounds);
    CHECK(pool.in_use() == 0);
}
