// jaild-reaper's command line and a warm sandbox's start message (program_start.h, child_abi.h): what jaild builds,
// the reaper reads back exactly, and anything else the reaper refuses (it then exits without starting a program).
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "jaild/sandbox/child_abi.h"
#include "jaild/sandbox/program_start.h"

namespace {

// argv as the kernel hands it over: writable strings, a null pointer after the last.
struct Argv {
    explicit Argv(std::vector<std::string> words) : strings(std::move(words)) {
        for (std::string& s : strings) pointers.push_back(s.data());
        pointers.push_back(nullptr);
    }
    int argc() const { return static_cast<int>(strings.size()); }
    std::vector<std::string> strings;
    std::vector<char*> pointers;
};

std::vector<std::string> until_null(char* const* array) {
    std::vector<std::string> out;
    for (; *array; ++array) out.emplace_back(*array);
    return out;
}

bool parses(std::vector<std::string> words) {
    Argv argv(std::move(words));
    jaild::ReaperCommand start;
    return jaild::parse_reaper_command_line(argv.argc(), argv.pointers.data(), start);
}

}  // namespace

TEST_CASE("the reaper reads back the program's paths, argv and environment that jaild put on its command line",
          "[program_start]") {
    const std::vector<std::string> paths{"/usr/local/bin/python3", "/usr/bin/python3"};
    const std::vector<std::string> args{"python3", "-c", "--", "", "2"};  // "--", "" and digits are just words
    const std::vector<std::string> env{"PATH=/usr/bin", "--", "X="};
    Argv argv(jaild::reaper_command_line(paths, args, env));
    CHECK(argv.strings.front() == "jaild-reaper");
    jaild::ReaperCommand start;
    REQUIRE(jaild::parse_reaper_command_line(argv.argc(), argv.pointers.data(), start));
    REQUIRE(start.path_count == 2);
    CHECK(std::string(start.paths[0]) == paths[0]);
    CHECK(std::string(start.paths[1]) == paths[1]);
    CHECK(until_null(start.argv) == args);
    CHECK(until_null(start.envp) == env);

    Argv no_env(jaild::reaper_command_line({"/bin/true"}, {"true"}, {}));
    REQUIRE(jaild::parse_reaper_command_line(no_env.argc(), no_env.pointers.data(), start));
    CHECK(until_null(start.argv) == std::vector<std::string>{"true"});
    CHECK(until_null(start.envp).empty());
}

TEST_CASE("the reaper refuses a command line jaild did not build", "[program_start]") {
    CHECK(parses({"jaild-reaper", "1", "/bin/true", "1", "true", "--"}));
    CHECK_FALSE(parses({"jaild-reaper"}));
    CHECK_FALSE(parses({"jaild-reaper", "2"}));                                  // the old form: a pid
    CHECK_FALSE(parses({"jaild-reaper", "0", "0", "--"}));                       // no path
    CHECK_FALSE(parses({"jaild-reaper", "1", "/bin/true", "0", "--"}));          // no argv[0]
    CHECK_FALSE(parses({"jaild-reaper", "2", "/bin/true", "1", "true", "--"}));  // counts past the end
    CHECK_FALSE(parses({"jaild-reaper", "1", "/bin/true", "2", "true", "--"}));
    CHECK_FALSE(parses({"jaild-reaper", "1", "/bin/true", "1", "true", "x"}));  // no separator
    CHECK_FALSE(parses({"jaild-reaper", "1", "/bin/true", "1", "true"}));
    CHECK_FALSE(parses({"jaild-reaper", "01", "/bin/true", "1", "true", "--"}));  // not jaild's numbers
    CHECK_FALSE(parses({"jaild-reaper", "+1", "/bin/true", "1", "true", "--"}));
    CHECK_FALSE(parses({"jaild-reaper", "-1", "/bin/true", "1", "true", "--"}));
    CHECK_FALSE(parses({"jaild-reaper", "", "/bin/true", "1", "true", "--"}));
    CHECK_FALSE(parses({"jaild-reaper", "99999999999999999999999", "/bin/true", "1", "true", "--"}));
}

namespace {

// A message as the reaper receives it: in a buffer of its own, aligned as its mmap'd one is.
struct Received {
    explicit Received(const std::string& message) : bytes(message.size() / sizeof(std::uint64_t) + 1) {
        std::memcpy(bytes.data(), message.data(), message.size());
        size = message.size();
    }
    char* data() { return reinterpret_cast<char*>(bytes.data()); }
    std::vector<std::uint64_t> bytes;
    std::size_t size = 0;
    std::vector<char*> words = std::vector<char*>(64 * 1024);
};

bool parses_warm(const std::string& message) {
    Received received(message);
    jaild::WarmStart start;
    return jaild::parse_warm_start(received.data(), received.size, received.words.data(), received.words.size(), start);
}

jaild::RunPlan plan_of(std::vector<std::string> argv, std::vector<std::string> env) {
    jaild::RunPlan plan;
    plan.argv = std::move(argv);
    plan.env = std::move(env);
    return plan;
}

}  // namespace

TEST_CASE("a warm sandbox's reaper reads back the limits, directory, paths, argv and environment of its start",
          "[program_start]") {
    const jaild::rlimits::Table limits = jaild::rlimits::prepare({2500, 1 << 20, 32, 16, 8 << 20});
    const std::vector<std::string> args{"sh", "-c", "echo \"$1\"", "--", ""};
    const std::vector<std::string> env{"PATH=/bin:/usr/bin", "A=b c"};
    const std::vector<std::string> paths = jaild::exec_candidates(plan_of(args, env));
    CHECK(paths == std::vector<std::string>{"/bin/sh", "/usr/bin/sh"});  // the plan's PATH, in order
    const std::string message = jaild::warm_start_message(limits, "/workspace/sub", paths, args, env);
    REQUIRE_FALSE(message.empty());

    Received received(message);
    jaild::WarmStart start;
    REQUIRE(
        jaild::parse_warm_start(received.data(), received.size, received.words.data(), received.words.size(), start));
    CHECK(std::string(start.cwd) == "/workspace/sub");
    REQUIRE(start.rlimit_count == limits.size());
    for (std::size_t i = 0; i < limits.size(); ++i) {
        CHECK(start.rlimits[i].resource == limits[i].resource);
        CHECK(start.rlimits[i].soft == limits[i].soft);
        CHECK(start.rlimits[i].hard == limits[i].hard);
    }
    REQUIRE(start.command.path_count == 2);
    CHECK(std::string(start.command.paths[1]) == "/usr/bin/sh");
    CHECK(until_null(start.command.argv) == args);
    CHECK(until_null(start.command.envp) == env);
}

TEST_CASE("a warm start too large for one message is not made (the run starts cold), and a malformed one is refused",
          "[program_start]") {
    const jaild::rlimits::Table limits = jaild::rlimits::prepare({1000, 1024, 8, 8, 1 << 20});
    const std::vector<std::string> big{"echo", std::string(jaild::warm_start_max_bytes, 'x')};
    CHECK(jaild::warm_start_message(limits, "/workspace", {"/bin/echo"}, big, {}).empty());

    const std::string good = jaild::warm_start_message(limits, "/workspace", {"/bin/true"}, {"true"}, {"A=1"});
    REQUIRE(parses_warm(good));
    CHECK_FALSE(parses_warm(good.substr(0, sizeof(jaild::WarmStartHeader) - 1)));  // cut in the header
    CHECK_FALSE(parses_warm(good.substr(0, good.size() - 1)));                     // cut in the words
    CHECK_FALSE(parses_warm(good + std::string("x\0", 2)));                        // more than it says
    std::string bad_magic = good;
    bad_magic[0] ^= 1;
    CHECK_FALSE(parses_warm(bad_magic));
    std::string too_many_limits = good;
    const std::uint32_t many = 9;
    std::memcpy(too_many_limits.data() + offsetof(jaild::WarmStartHeader, rlimit_count), &many, sizeof many);
    CHECK_FALSE(parses_warm(too_many_limits));
    // A relative directory, or words that are no reaper command line.
    CHECK_FALSE(parses_warm(jaild::warm_start_message(limits, "workspace", {"/bin/true"}, {"true"}, {})));
    std::string no_separator = jaild::warm_start_message(limits, "/workspace", {"/bin/true"}, {"true"}, {});
    no_separator.replace(no_separator.size() - 3, 2, "xx");
    CHECK_FALSE(parses_warm(no_separator));
}
