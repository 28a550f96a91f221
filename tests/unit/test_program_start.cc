// jaild-reaper's command line (program_start.h, child_abi.h): what spawn.cc builds, the reaper reads back exactly, and
// anything else the reaper refuses (it then exits 2 without starting a program).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "jaild/child_abi.h"
#include "jaild/program_start.h"

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
