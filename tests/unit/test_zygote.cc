// Warm Python's parts that need no daemon: which command lines and environments a zygote may start, the
// language keys that turn it on, the [zygote] config section and the records jaild and the zygote exchange.
// The real zygote is exercised by tests/integration/test_zygote.cc and the security suite's zygote run.
#include <catch2/catch.hpp>

#include <type_traits>

#include "common/config.h"
#include "jaild/languages.h"
#include "jaild/sandbox/zygote.h"
#include "jaild/sandbox/zygote_abi.h"

using namespace jaild;

namespace {

std::string parse_error(const std::string& text) {
    try {
        parse_language(text, "py.toml");
    } catch (const LanguageError& e) {
        return e.what();
    }
    return "";
}

const std::string kPython =
    "name = \"py\"\nsource = \"main.py\"\nversion = [\"python3\", \"--version\"]\nrun = [\"python3\", \"main.py\"]\n";

// A zygote that never becomes ready (its program does not exist): fits() needs only its setup.
Zygote::Setup setup(std::vector<std::string> env) {
    Zygote::Setup s;
    s.program = "/nonexistent/jaild-zygote";
    s.language = "python";
    s.env = std::move(env);
    return s;
}

RunPlan plan(std::vector<std::string> argv, std::vector<std::string> env) {
    RunPlan p;
    p.argv = std::move(argv);
    p.env = std::move(env);
    p.zygote = "python";
    return p;
}

}  // namespace

TEST_CASE("the warm-start grammar: python3, -u/-B, then -c, -m or a script", "[unit][zygote]") {
    CHECK(zygote_command_fits({"python3", "-u", "main.py"}));
    CHECK(zygote_command_fits({"python3", "-u", "/opt/jaild/runner.py", "main", "main.py", "--flag"}));
    CHECK(zygote_command_fits({"python3", "-B", "-u", "-c", "print(1)", "x"}));
    CHECK(zygote_command_fits({"python3", "-m", "json.tool"}));
    CHECK_FALSE(zygote_command_fits({}));
    CHECK_FALSE(zygote_command_fits({"python3"}));                          // the program from stdin
    CHECK_FALSE(zygote_command_fits({"python3", "-u"}));                    // likewise
    CHECK_FALSE(zygote_command_fits({"/usr/bin/python3", "main.py"}));      // another interpreter path
    CHECK_FALSE(zygote_command_fits({"python3", "-X", "dev", "main.py"}));  // start-time options
    CHECK_FALSE(zygote_command_fits({"python3", "-uB", "main.py"}));        // combined options: cold
    CHECK_FALSE(zygote_command_fits({"python3", "-I", "main.py"}));
    CHECK_FALSE(zygote_command_fits({"python3", "-c"}));  // -c without its code
    CHECK_FALSE(zygote_command_fits({"python3", "-m", ""}));
    CHECK_FALSE(zygote_command_fits({"python3", "-", "x"}));  // stdin as the script
    CHECK_FALSE(zygote_command_fits({"python3", "-u", "--", "main.py"}));
}

TEST_CASE("a run fits a zygote only with the zygote's start-time variables", "[unit][zygote]") {
    const Zygote zygote(setup({"LANG=C.UTF-8", "PATH=/usr/bin", "PYTHONDONTWRITEBYTECODE=1"}));
    const std::vector<std::string> argv = {"python3", "-u", "main.py"};
    // Other variables may differ: the launcher sets them after the start.
    CHECK(zygote.fits(plan(argv, {"LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "HOME=/workspace", "X=1"})));
    // A PYTHON* variable, LANG or an LC_* the interpreter would read at its start: cold.
    CHECK_FALSE(zygote.fits(plan(argv, {"LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=0"})));
    CHECK_FALSE(zygote.fits(plan(argv, {"LANG=de_DE.UTF-8", "PYTHONDONTWRITEBYTECODE=1"})));
    CHECK_FALSE(zygote.fits(plan(argv, {"LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "LC_ALL=C"})));
    CHECK_FALSE(zygote.fits(plan(argv, {"LANG=C.UTF-8"})));  // one the zygote has, missing
    RunPlan other = plan(argv, {"LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"});
    other.zygote = "";  // not an execute of the language
    CHECK_FALSE(zygote.fits(other));
    RunPlan packages = plan(argv, {"LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"});
    packages.packages.env = "/var/cache/jaild/packages/abc";  // a requirements environment: cold
    CHECK_FALSE(zygote.fits(packages));
}

TEST_CASE("zygote and preload in a language file", "[unit][zygote]") {
    const Language l =
        parse_language(kPython + "zygote = true\npreload = [\"numpy\", \"sklearn.linear_model\"]\n", "py.toml");
    CHECK(l.zygote);
    CHECK(l.preload == std::vector<std::string>{"numpy", "sklearn.linear_model"});
    CHECK_FALSE(parse_language(kPython, "py.toml").zygote);
    CHECK_THAT(parse_error(kPython + "zygote = \"yes\"\n"),
               Catch::Contains("zygote") && Catch::Contains("true or false"));
    CHECK_THAT(parse_error(kPython + "preload = [\"numpy\"]\n"), Catch::Contains("needs zygote = true"));
    for (const char* bad : {"\"os; import x\"", "\"-c\"", "\".numpy\"", "\"numpy.\"", "\"1numpy\"", "\"\""})
        CHECK_THAT(parse_error(kPython + "zygote = true\npreload = [" + bad + "]\n"), Catch::Contains("module names"));
}

TEST_CASE("the shipped python.toml has a zygote with the scientific stack preloaded", "[unit][zygote]") {
    const auto languages = load_languages(JAILD_SOURCE_DIR "/languages");
    const auto python =
        std::find_if(languages.begin(), languages.end(), [](const Language& l) { return l.name == "python"; });
    REQUIRE(python != languages.end());
    CHECK(python->zygote);
    CHECK(std::find(python->preload.begin(), python->preload.end(), "pandas") != python->preload.end());
    // The language's own runs fit: its run and main() command lines.
    CHECK(zygote_command_fits(python->run));
    CHECK(zygote_command_fits(python->main_run));
    CHECK(zygote_command_fits(python->result_run));
}

TEST_CASE("[zygote] in the config", "[unit][zygote][config]") {
    CHECK(Config{}.zygote.enabled);
    const Config c = parse_config("[zygote]\nenabled = false\nmax_forks = 5\nmax_minutes = 0\n", "t.toml");
    CHECK_FALSE(c.zygote.enabled);
    CHECK(c.zygote.max_forks == 5);
    CHECK(c.zygote.max_minutes == 0);
    CHECK_THROWS_WITH(parse_config("[zygote]\nmax_minutes = 99999999\n", "t.toml"), Catch::Contains("max_minutes"));
    CHECK_THROWS_WITH(parse_config("[zygote]\nwarm = true\n", "t.toml"), Catch::Contains("warm"));
}

TEST_CASE("the zygote's records are fixed-size and carry every descriptor of a run", "[unit][zygote]") {
    static_assert(std::is_trivially_copyable_v<ZygoteRequest> && std::is_trivially_copyable_v<ZygoteReply>);
    static_assert(std::is_trivially_copyable_v<ZygoteReady> && std::is_trivially_copyable_v<AdoptMessage>);
    // Namespaces, stdio, report channel, start memfd, result channel, cgroup.procs of every v1 controller.
    CHECK(ZygoteRequest::max_fds == namespace_count + 5 + 1 + 6);
    CHECK(ZygoteRequest::max_cgroup_fds >= cgroup::AttachFds{}.procs_fds.size());
    // The reaper tells an adoption from a start message by its size alone.
    CHECK(sizeof(AdoptMessage) < sizeof(WarmStartHeader));
}
