#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "jaild/uid_range_lock.h"
#include "tests/support/harness.h"

using Catch::Matchers::Contains;
using jaild::UidRangeLock;
using jaild::UidRangeTaken;

namespace {

// The message a lock of [base, base + count) gets, or "" when it is taken.
std::string refusal(std::uint32_t base, std::uint32_t count, const std::string& file) {
    try {
        UidRangeLock lock(base, count, "/run/other.sock", file, std::chrono::milliseconds(0));
    } catch (const UidRangeTaken& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a uid range overlapping a held one is refused, naming the holder's socket", "[unit][uid_lock]") {
    jaild::test::TempDir dir;
    const std::string file = dir.path() + "/jaild";
    std::optional<UidRangeLock> first;
    first.emplace(60000, 1000, "/run/jaild/jaild.sock", file);

    for (auto [base, count] : {std::pair{60000u, 1000u}, {59000u, 1001u}, {60999u, 5u}, {60500u, 10u}, {0u, 70000u}}) {
        INFO(base << " + " << count);
        const std::string message = refusal(base, count, file);
        CHECK_THAT(message, Contains("the jaild answering on /run/jaild/jaild.sock") &&
                                Contains("pid " + std::to_string(::getpid())) && Contains("uids 60000..60999") &&
                                Contains("[sandbox] uid_base"));
    }
    // Ranges beside it are free.
    CHECK(refusal(59000, 1000, file).empty());
    CHECK(refusal(61000, 1000, file).empty());

    // The record names the holder while it runs, and goes with it.
    CHECK(std::filesystem::exists(file + "/uids.60000"));
    first.reset();
    CHECK_FALSE(std::filesystem::exists(file + "/uids.60000"));
    CHECK(refusal(60000, 1000, file).empty());
}

TEST_CASE("a uid range lock goes with its holder, even killed", "[unit][uid_lock]") {
    jaild::test::TempDir dir;
    const std::string file = dir.path() + "/jaild";
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(ready[0]);
        try {
            UidRangeLock lock(61000, 100, "/run/child.sock", file);
            if (::write(ready[1], "x", 1) != 1) ::_exit(2);
            ::pause();  // until killed: no destructor runs
        } catch (...) {
        }
        ::_exit(1);
    }
    ::close(ready[1]);
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    ::close(ready[0]);
    CHECK_THAT(refusal(61050, 10, file), Contains("/run/child.sock"));
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    // The kernel dropped the lock with the process; its stale record is simply replaced.
    UidRangeLock after(61000, 100, "/run/after.sock", file);
    std::ifstream record(file + "/uids.61000");
    std::string socket;
    std::getline(record, socket);
    CHECK(socket == "/run/after.sock");
}

TEST_CASE("a lock directory another user could write to, or a link, is refused", "[unit][uid_lock]") {
    jaild::test::TempDir dir;
    const std::string open = dir.path() + "/open";
    std::filesystem::create_directory(open);
    ::chmod(open.c_str(), 01777);  // as /run/lock itself is
    try {
        UidRangeLock lock(60000, 10, "/run/jaild.sock", open, std::chrono::milliseconds(0));
        FAIL("a world-writable lock directory was used");
    } catch (const std::runtime_error& e) {
        CHECK_THAT(e.what(), Contains(open) && Contains("not this user's alone"));
    }
    const std::string link = dir.path() + "/link";
    const std::string target = dir.path() + "/target";
    std::filesystem::create_directory(target);
    std::filesystem::create_directory_symlink(target, link);
    CHECK_THROWS_WITH(UidRangeLock(60000, 10, "/run/jaild.sock", link, std::chrono::milliseconds(0)),
                      Contains("cannot open " + link));
    CHECK(std::filesystem::is_empty(target));  // nothing was made through the link
}
