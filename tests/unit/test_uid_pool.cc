// The sandbox uid pool: it leases pairs (a program's uid and its reaper's), no two holders ever share a uid of
// either, round-robin reuse, and misuse is loud.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "jaild/sandbox/uid_pool.h"

using jaild::reaper_uid_of;
using jaild::UidPool;

TEST_CASE("acquire hands out every pair of the range once, both uids in it, then nothing", "[unit][uid_pool]") {
    constexpr std::uint32_t base = 60'000, count = 16;
    UidPool pool(base, count);
    CHECK(pool.pairs() == 8);
    CHECK(pool.size() == 16);
    std::set<std::uint32_t> seen;  // every uid of every pair handed out
    for (std::uint32_t i = 0; i < count / 2; ++i) {
        const auto uid = pool.acquire();
        REQUIRE(uid.has_value());
        CHECK(*uid >= base);
        CHECK(reaper_uid_of(*uid) < base + count);
        CHECK(reaper_uid_of(*uid) != *uid);
        CHECK(seen.insert(*uid).second);
        CHECK(seen.insert(reaper_uid_of(*uid)).second);  // no pair's reaper uid is another's program uid
        CHECK(pool.pairs_in_use() == i + 1);
        CHECK(pool.in_use() == 2 * (i + 1));
    }
    CHECK(seen.size() == count);
    CHECK_FALSE(pool.acquire().has_value());
    CHECK_FALSE(pool.acquire().has_value());  // still nothing, and the count did not move
    CHECK(pool.in_use() == count);
}

TEST_CASE("an odd count leaves its last uid out of every pair", "[unit][uid_pool]") {
    UidPool pool(1'000, 5);
    CHECK(pool.pairs() == 2);
    CHECK(pool.size() == 4);
    const auto a = pool.acquire(), b = pool.acquire();
    REQUIRE((a && b));
    CHECK(std::max(reaper_uid_of(*a), reaper_uid_of(*b)) == 1'003);
    CHECK_FALSE(pool.acquire().has_value());
}

TEST_CASE("the probe's pair is the range's last two uids, outside the pool", "[unit][uid_pool]") {
    constexpr std::uint32_t base = 60'000, count = 10;
    UidPool pool(base, jaild::pool_uid_count(count));
    const std::uint32_t probe = jaild::probe_uid(base, count);
    CHECK(probe == base + count - 2);
    CHECK(reaper_uid_of(probe) == base + count - 1);
    while (const auto uid = pool.acquire()) {
        CHECK(*uid != probe);
        CHECK(reaper_uid_of(*uid) < probe);
    }
    CHECK(pool.pairs() == 4);
}

TEST_CASE("release makes exactly that pair available again", "[unit][uid_pool]") {
    UidPool pool(1'000, 8);
    std::vector<std::uint32_t> held;
    while (auto uid = pool.acquire()) held.push_back(*uid);
    REQUIRE(held.size() == 4);

    pool.release(held[2]);
    CHECK(pool.pairs_in_use() == 3);
    CHECK(pool.in_use() == 6);
    const auto again = pool.acquire();
    REQUIRE(again.has_value());
    CHECK(*again == held[2]);
    CHECK_FALSE(pool.acquire().has_value());
}

TEST_CASE("a released pair is handed out last while others are free", "[unit][uid_pool]") {
    UidPool pool(500, 8);
    const auto first = pool.acquire();
    REQUIRE(first.has_value());
    pool.release(*first);
    // Three other pairs are free: they all come before the one just released.
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

TEST_CASE("round-robin keeps going past a pair released in the middle", "[unit][uid_pool]") {
    UidPool pool(10, 10);
    const auto a = pool.acquire(), b = pool.acquire(), c = pool.acquire();
    REQUIRE((a && b && c));
    pool.release(*b);
    const auto d = pool.acquire();
    REQUIRE(d.has_value());
    CHECK(*d != *b);  // the pair after c, not b again
    CHECK(*d == *c + 2);
}

TEST_CASE("release of a uid not held throws, a reaper's uid too", "[unit][uid_pool]") {
    UidPool pool(2'000, 6);
    CHECK_THROWS_AS(pool.release(2'000), std::logic_error);  // in range, never acquired
    const auto uid = pool.acquire();
    REQUIRE(uid.has_value());
    CHECK_THROWS_AS(pool.release(reaper_uid_of(*uid)), std::logic_error);  // a pair goes back by its program uid
    CHECK_THROWS_AS(pool.release(*uid + 2), std::logic_error);
    CHECK_THROWS_AS(pool.release(1'999), std::logic_error);  // below the range
    CHECK_THROWS_AS(pool.release(2'006), std::logic_error);  // just past the range
    CHECK_THROWS_AS(pool.release(0), std::logic_error);
    pool.release(*uid);
    CHECK_THROWS_AS(pool.release(*uid), std::logic_error);  // twice
    CHECK(pool.in_use() == 0);
}

TEST_CASE("a pool of no pair is refused", "[unit][uid_pool]") {
    CHECK_THROWS_AS(UidPool(1'000, 0), std::invalid_argument);
    CHECK_THROWS_AS(UidPool(1'000, 1), std::invalid_argument);
}

TEST_CASE("concurrent acquire and release never give one uid of a pair to two holders", "[unit][uid_pool]") {
    constexpr std::uint32_t base = 70'000, count = 6;  // fewer pairs than threads: exhaustion happens too
    constexpr int threads = 4, rounds = 20'000;
    UidPool pool(base, count);
    std::atomic<int> holders[count] = {};  // per uid, program and reaper alike
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
                if (*uid < base || reaper_uid_of(*uid) >= base + count) {
                    ++out_of_range;
                    continue;
                }
                std::atomic<int>& program = holders[*uid - base];
                std::atomic<int>& reaper = holders[reaper_uid_of(*uid) - base];
                if (program.fetch_add(1) != 0) ++shared;
                if (reaper.fetch_add(1) != 0) ++shared;
                ++acquired;
                if (i % 7 == 0) std::this_thread::yield();  // hold it a little while others run
                program.fetch_sub(1);
                reaper.fetch_sub(1);
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
