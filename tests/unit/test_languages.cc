// The language registry and the mapping of execute requests to plans: file parsing and its errors, the
// shipped language files, and every validation an execute request goes through.
#include <catch2/catch.hpp>

#include <unistd.h>
#include "jaild.pb.h"

#include <filesystem>

#include "jaild/language_dirs.h"
#include "jaild/languages.h"
#include "jaild/runner_answer.h"
#include "tests/support/skip.h"

using namespace jaild;
using jaild::test::skip;

namespace {

const char* kMinimal = "name = \"toy\"\nsource = \"main.toy\"\nversion = [\"toy\", \"--version\"]\nrun = [\"toy\"]\n";

std::string parse_error(const std::string& text) {
    try {
        parse_language(text, "toy.toml");
    } catch (const LanguageError& e) {
        return e.what();
    }
    return "";
}

LanguageRegistry shipped() { return LanguageRegistry(load_languages(JAILD_SOURCE_DIR "/languages")); }

v1::ExecuteRequest request(const std::string& language, const std::string& code) {
    v1::ExecuteRequest r;
    r.set_language(language);
    r.set_code(code);
    return r;
}

}  // namespace

TEST_CASE("a minimal language file parses", "[languages]") {
    const Language l = parse_language(kMinimal, "toy.toml");
    CHECK(l.name == "toy");
    CHECK(l.source == "main.toy");
    CHECK(l.run == std::vector<std::string>{"toy"});
    CHECK_FALSE(l.compile);
    CHECK(l.main_run.empty());
}

TEST_CASE("language file errors name the file, line and key", "[languages]") {
    CHECK(parse_error("source = \"a\"\nversion = [\"x\"]\nrun = [\"x\"]\n").find("\"name\" is required") !=
          std::string::npos);
    CHECK(parse_error(std::string(kMinimal) + "colour = \"red\"\n") == "toy.toml:5: \"colour\" is not a known key");
    CHECK(parse_error(std::string(kMinimal) + "aliases = \"t\"\n").find("must be an array of strings") !=
          std::string::npos);
    CHECK(parse_error("name = \"Toy Lang\"\nsource = \"a\"\nversion = [\"x\"]\nrun = [\"x\"]\n").find("toy.toml:1") ==
          0);
    CHECK(parse_error("name = \"toy\"\nsource = \"../a\"\nversion = [\"x\"]\nrun = [\"x\"]\n").find("plain file") !=
          std::string::npos);
    CHECK(parse_error(std::string(kMinimal) + "[compile]\nargv = [\"cc\"]\ncpu_ms = -1\n").find("compile") !=
          std::string::npos);
    CHECK(parse_error(std::string(kMinimal) + "[compile]\nargv = [\"cc\"]\nflags = 1\n") ==
          "toy.toml:7: \"compile.flags\" is not a known key");
    CHECK(parse_error(std::string(kMinimal) + "run = [\n").find("toy.toml:") == 0);
    // execve would cut an argument at a NUL (found by fuzz_config): refused in every string.
    CHECK(parse_error(std::string(kMinimal) + "[compile]\nargv = [\"gcc\\u0000x\"]\n").find("NUL") !=
          std::string::npos);
    CHECK(parse_error("name = \"toy\"\nsource = \"a\\u0000b\"\nversion = [\"x\"]\nrun = [\"x\"]\n").find("NUL") !=
          std::string::npos);
    CHECK(parse_error(std::string(kMinimal) + "[env]\nA = \"b\\u0000c\"\n").find("NUL") != std::string::npos);
}

TEST_CASE("the shipped language files parse and cover the promised languages", "[languages]") {
    const LanguageRegistry registry = shipped();
    for (const char* name : {"python", "bash", "sh", "node", "perl", "c", "cpp"}) {
        INFO(name);
        CHECK(registry.find(name) != nullptr);
    }
    CHECK(registry.find("python3") == registry.find("python"));
    CHECK(registry.find("c++") == registry.find("cpp"));
    CHECK(registry.find("cobol") == nullptr);
    REQUIRE(registry.find("c")->compile);
    CHECK(registry.find("c")->compile->cpu_ms > 0);
    CHECK_FALSE(registry.find("python")->main_run.empty());
    CHECK_FALSE(registry.find("python")->result_run.empty());
}

TEST_CASE("an execute request becomes run (and compile) plans", "[languages]") {
    const LanguageRegistry registry = shipped();
    const LimitSet defaults, maxima = default_limit_maxima();

    v1::ExecuteRequest python = request("python", "print(1)");
    python.add_args("a1");
    (*python.mutable_env())["MPLBACKEND"] = "pdf";  // the request's env wins over the language's
    auto planned = make_execute_plan(python, registry, defaults, maxima);
    REQUIRE(std::holds_alternative<ExecutePlan>(planned));
    const ExecutePlan& plan = std::get<ExecutePlan>(planned);
    CHECK_FALSE(plan.compile);
    CHECK(plan.run.argv.back() == "a1");
    CHECK(plan.run.argv.front() == "python3");
    REQUIRE(plan.run.files.size() == 1);
    CHECK(plan.run.files[0].path == "main.py");
    CHECK(plan.run.files[0].content == "print(1)");
    CHECK(std::count(plan.run.env.begin(), plan.run.env.end(), "MPLBACKEND=pdf") == 1);
    CHECK_FALSE(plan.run.result_channel);

    v1::ExecuteRequest c = request("gcc", "int main(){}");
    c.set_stdin("input");
    c.mutable_limits()->set_cpu_ms(100);
    auto compiled = make_execute_plan(c, registry, defaults, maxima);
    REQUIRE(std::holds_alternative<ExecutePlan>(compiled));
    const ExecutePlan& two = std::get<ExecutePlan>(compiled);
    REQUIRE(two.compile);
    CHECK(two.compile->argv.front() == "gcc");
    CHECK(two.compile->limits.cpu_ms == registry.find("c")->compile->cpu_ms);  // its own limits
    CHECK(two.compile->stdin_data.empty());
    CHECK(two.compile->files.size() == 1);
    CHECK(two.run.files.empty());  // already in the shared workspace
    CHECK(two.run.limits.cpu_ms == 100);
    CHECK(two.run.stdin_data == "input");

    v1::ExecuteRequest main = request("python", "def main(): return 1");
    main.set_mode(v1::EXECUTE_MODE_MAIN);
    auto with_main = make_execute_plan(main, registry, defaults, maxima);
    REQUIRE(std::holds_alternative<ExecutePlan>(with_main));
    CHECK(std::get<ExecutePlan>(with_main).run.result_channel);
    CHECK(std::get<ExecutePlan>(with_main).run.result_input == "{}");
}

TEST_CASE("execute requests are refused naming the field", "[languages]") {
    const LanguageRegistry registry = shipped();
    const LimitSet defaults, maxima = default_limit_maxima();
    auto field_of = [&](const v1::ExecuteRequest& r) {
        auto planned = make_execute_plan(r, registry, defaults, maxima);
        return std::holds_alternative<PlanError>(planned) ? std::get<PlanError>(planned).field : std::string("ok");
    };
    CHECK(field_of(request("cobol", "x")) == "language");
    CHECK(field_of(request("", "x")) == "language");
    v1::ExecuteRequest main_bash = request("bash", "x");
    main_bash.set_mode(v1::EXECUTE_MODE_MAIN);
    CHECK(field_of(main_bash) == "mode");
    CHECK(field_of(request("python", std::string(defaults.code_bytes + 1, 'x'))) == "code");
    CHECK(field_of(request("python", std::string(defaults.code_bytes, 'x'))) == "ok");
    v1::ExecuteRequest plain_data = request("python", "x");
    plain_data.set_data_json("{}");
    CHECK(field_of(plain_data) == "data");
    v1::ExecuteRequest limits = request("python", "x");
    limits.mutable_limits()->set_memory_kb(maxima.memory_kb + 1);
    CHECK(field_of(limits) == "limits.memory_kb");
}

TEST_CASE("data keys must be usable as Python variables", "[languages]") {
    CHECK(valid_variable_name("x"));
    CHECK(valid_variable_name("_private"));
    CHECK(valid_variable_name("value_2"));
    CHECK_FALSE(valid_variable_name(""));
    CHECK_FALSE(valid_variable_name("2x"));
    CHECK_FALSE(valid_variable_name("a-b"));
    CHECK_FALSE(valid_variable_name("a b"));
    CHECK_FALSE(valid_variable_name("class"));
    CHECK_FALSE(valid_variable_name("None"));
    CHECK_FALSE(valid_variable_name("__builtins__"));
    CHECK_FALSE(valid_variable_name("caf\xc3\xa9"));
}

TEST_CASE("a runner's answer decides result, error and trace", "[languages]") {
    auto apply = [](std::string_view answer, v1::Status status = v1::STATUS_OK) {
        v1::Exit exit;
        exit.set_status(status);
        const RunnerVerdict verdict = apply_runner_answer(answer, exit);
        return std::make_pair(verdict, exit);
    };
    auto [none, untouched] = apply("");
    CHECK(none == RunnerVerdict::none);
    CHECK(untouched.status() == v1::STATUS_OK);

    auto [ok, result] = apply(R"({"status": "ok", "result": "{\"avg\": 2.0}"})");
    CHECK(ok == RunnerVerdict::ok);
    CHECK(result.result_json() == "{\"avg\": 2.0}");  // verbatim, not re-spelled

    auto [unset, no_result] = apply(R"({"status": "ok"})");
    CHECK(unset == RunnerVerdict::ok);
    CHECK(no_result.result_json().empty());

    CHECK(apply(R"({"status": "no_main"})").first == RunnerVerdict::no_main);

    auto [failed, exception] = apply(
        R"({"status": "exception", "message": "ValueError: bad", "trace": "Traceback..."})", v1::STATUS_RUNTIME_ERROR);
    CHECK(failed == RunnerVerdict::failed);
    CHECK(exception.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(exception.error() == "ValueError: bad");
    CHECK(exception.trace() == "Traceback...");

    // A limit that was hit stays the status.
    auto [late, timeout] = apply(R"({"status": "exception", "message": "x"})", v1::STATUS_TIMEOUT);
    CHECK(timeout.status() == v1::STATUS_TIMEOUT);

    for (const char* garbage :
         {"not json", "[1]", R"({"status": "ok", "result": "{"})", R"({"status": "ok", "result": 3})"}) {
        INFO(garbage);
        auto [verdict, exit] = apply(garbage);
        CHECK(verdict == RunnerVerdict::failed);
        CHECK(exit.status() == v1::STATUS_RUNTIME_ERROR);
        CHECK(exit.result_json().empty());
    }
}

TEST_CASE("languages: a build tree's jaild falls back to its source tree, an installed one never",
          "[unit][languages]") {
    const LanguagesConfig defaults;
    if (std::filesystem::exists(defaults.dir) || std::filesystem::exists(defaults.support_dir)) {
        skip(defaults.dir + " or " + defaults.support_dir + " exists on this host (installed package)");
        return;
    }
    const std::string source = JAILD_SOURCE_DIR;
    const std::string bin_dir = std::filesystem::temp_directory_path() / ("jaild-bin-" + std::to_string(::getpid()));
    std::filesystem::create_directories(bin_dir);
    const BuildTree tree{bin_dir, source};

    // Run from the build tree with the default paths, which do not exist: the source tree's copies.
    LanguageDirs chosen = choose_language_dirs(defaults, tree, bin_dir + "/jaild");
    CHECK(chosen.from_source_tree);
    CHECK(chosen.dirs.dir == source + "/languages");
    CHECK(chosen.dirs.support_dir == source + "/languages/support");
    CHECK_FALSE(load_languages(chosen.dirs.dir).empty());

    // Installed (/usr/bin/jaild), or a copy elsewhere: the configuration's paths, even though they are missing.
    for (const std::string& exe : {std::string("/usr/bin/jaild"), source + "/jaild"}) {
        chosen = choose_language_dirs(defaults, tree, exe);
        CHECK_FALSE(chosen.from_source_tree);
        CHECK(chosen.dirs == defaults);
    }
    // Paths the operator chose are kept, existing or not.
    LanguagesConfig chosen_by_operator{"/srv/languages", "/srv/support"};
    chosen = choose_language_dirs(chosen_by_operator, tree, bin_dir + "/jaild");
    CHECK_FALSE(chosen.from_source_tree);
    CHECK(chosen.dirs == chosen_by_operator);
    // A binary built without a build tree (no definitions) never falls back.
    CHECK_FALSE(choose_language_dirs(defaults, BuildTree{}, bin_dir + "/jaild").from_source_tree);
    std::filesystem::remove_all(bin_dir);
}
