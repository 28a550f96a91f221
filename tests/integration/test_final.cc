// Runs once after every root test (a CTest cleanup fixture): the suite as a whole left nothing behind.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/harness.h"

using namespace jaild::test;

TEST_CASE("after the suite no sandbox process, job cgroup, sandbox mount or scratch directory is left", "[.final]") {
    CHECK(sandbox_processes().empty());
    CHECK(all_job_cgroups().empty());
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mountinfo, line)) CHECK(line.find("/jaild-test-") == std::string::npos);
    for (const auto& entry : std::filesystem::directory_iterator("/tmp")) {
        INFO(entry.path());
        CHECK(entry.path().filename().string().rfind("jaild-test-", 0) != 0);
    }
}
