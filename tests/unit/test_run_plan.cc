// make_run_plan: every request is untrusted, so each limit, argv, env, cwd and file path is checked here
// before anything else sees it.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "jaild.pb.h"
#include "jaild/plan_from_request.h"

using Catch::Matchers::Contains;
using jaild::check_relative_path;
using jaild::LimitSet;
using jaild::make_run_plan;
using jaild::PlanError;
using jaild::RunPlan;
namespace v1 = jaild::v1;

namespace {

// Distinct values everywhere, so that a limit read from or stored into the wrong field shows.
LimitSet test_defaults() {
    LimitSet d;
    d.cpu_ms = 1'001;
    d.wall_ms = 2'002;
    d.memory_kb = 3'003;
    d.fsize_kb = 4'004;
    d.nofile = 55;
    d.nproc = 66;
    d.output_bytes = 7'007;
    d.tmp_kb = 128;
    d.code_bytes = 9'009;
    d.stack_kb = 1'010;
    return d;
}

LimitSet test_maxima() {
    LimitSet m;
    m.cpu_ms = 10'001;
    m.wall_ms = 20'002;
    m.memory_kb = 30'003;
    m.fsize_kb = 40'004;
    m.nofile = 505;
    m.nproc = 606;
    m.output_bytes = 70'007;
    m.tmp_kb = 80'008;
    m.code_bytes = 90'009;
    m.stack_kb = 10'010;
    return m;
}

v1::RunRequest request_for(std::initializer_list<std::string> argv) {
    v1::RunRequest request;
    for (const std::string& arg : argv) request.add_argv(arg);
    return request;
}

v1::RunRequest echo_request() { return request_for({"/bin/echo", "hello"}); }

RunPlan plan_of(const v1::RunRequest& request) {
    auto result = make_run_plan(request, test_defaults(), test_maxima());
    if (const auto* error = std::get_if<PlanError>(&result))
        FAIL("refused: field " << error->field << ": " << error->message);
    return std::get<RunPlan>(std::move(result));
}

PlanError error_of(const v1::RunRequest& request) {
    auto result = make_run_plan(request, test_defaults(), test_maxima());
    REQUIRE(std::holds_alternative<PlanError>(result));
    return std::get<PlanError>(result);
}

// The value of KEY in the plan's environment, and how many times KEY appears.
std::optional<std::string> env_value(const RunPlan& plan, const std::string& key) {
    std::optional<std::string> value;
    for (const std::string& entry : plan.env) {
        if (entry.rfind(key + "=", 0) == 0) value = entry.substr(key.size() + 1);
    }
    return value;
}
std::size_t env_count(const RunPlan& plan, const std::string& key) {
    return std::count_if(plan.env.begin(), plan.env.end(),
                         [&](const std::string& entry) { return entry.rfind(key + "=", 0) == 0; });
}

void add_file(v1::RunRequest& request, const std::string& path, const std::string& content = "x",
              bool executable = false) {
    auto* file = request.add_files();
    file->set_path(path);
    file->set_content(content);
    file->set_executable(executable);
}

// One row per limit of the protocol: how to set it in a request and its maximum in test_maxima().
struct LimitCase {
    const char* name;
    void (*set)(v1::Limits&, std::uint64_t);
    std::uint64_t maximum;
};

const LimitCase kLimitCases[] = {
    {"cpu_ms", [](v1::Limits& l, std::uint64_t v) { l.set_cpu_ms(static_cast<std::uint32_t>(v)); }, 10'001},
    {"wall_ms", [](v1::Limits& l, std::uint64_t v) { l.set_wall_ms(static_cast<std::uint32_t>(v)); }, 20'002},
    {"memory_kb", [](v1::Limits& l, std::uint64_t v) { l.set_memory_kb(v); }, 30'003},
    {"fsize_kb", [](v1::Limits& l, std::uint64_t v) { l.set_fsize_kb(v); }, 40'004},
    {"nofile", [](v1::Limits& l, std::uint64_t v) { l.set_nofile(static_cast<std::uint32_t>(v)); }, 505},
    {"nproc", [](v1::Limits& l, std::uint64_t v) { l.set_nproc(static_cast<std::uint32_t>(v)); }, 606},
    {"output_bytes", [](v1::Limits& l, std::uint64_t v) { l.set_output_bytes(v); }, 70'007},
    {"tmp_kb", [](v1::Limits& l, std::uint64_t v) { l.set_tmp_kb(v); }, 80'008},
};

}  // namespace

// ---------------------------------------------------------------------------------------------- limits

TEST_CASE("limits left at 0 take the configured defaults", "[unit][run_plan]") {
    const RunPlan plan = plan_of(echo_request());
    CHECK(plan.limits.cpu_ms == 1'001);
    CHECK(plan.limits.wall_ms == 2'002);
    CHECK(plan.limits.memory_bytes == 3'003ULL * 1024);
    CHECK(plan.limits.fsize_bytes == 4'004ULL * 1024);
    CHECK(plan.limits.nofile == 55);
    CHECK(plan.limits.nproc == 66);
    CHECK(plan.limits.output_bytes == 7'007);
    CHECK(plan.limits.tmp_bytes == 128ULL * 1024);
    CHECK(plan.limits.stack_bytes == 1'010ULL * 1024);
}

TEST_CASE("requested limits are converted to the plan's units", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    v1::Limits& l = *request.mutable_limits();
    l.set_cpu_ms(1'500);
    l.set_wall_ms(3'000);
    l.set_memory_kb(2'048);
    l.set_fsize_kb(100);
    l.set_nofile(128);
    l.set_nproc(200);
    l.set_output_bytes(12'345);
    l.set_tmp_kb(256);
    const RunPlan plan = plan_of(request);
    CHECK(plan.limits.cpu_ms == 1'500);
    CHECK(plan.limits.wall_ms == 3'000);
    CHECK(plan.limits.memory_bytes == 2'048ULL * 1024);
    CHECK(plan.limits.fsize_bytes == 102'400);
    CHECK(plan.limits.nofile == 128);
    CHECK(plan.limits.nproc == 200);
    CHECK(plan.limits.output_bytes == 12'345);
    CHECK(plan.limits.tmp_bytes == 262'144);
    CHECK(plan.limits.stack_bytes == 1'010ULL * 1024);  // not requestable: always the default
}

TEST_CASE("each limit above its maximum is refused naming the field and the maximum", "[unit][run_plan]") {
    for (const LimitCase& limit : kLimitCases) {
        INFO("limit " << limit.name);
        v1::RunRequest request = echo_request();
        limit.set(*request.mutable_limits(), limit.maximum + 1);
        const PlanError error = error_of(request);
        CHECK(error.field == std::string("limits.") + limit.name);
        CHECK_THAT(error.message, Contains(limit.name));
        CHECK_THAT(error.message, Contains("maximum " + std::to_string(limit.maximum)));
        CHECK_THAT(error.message, Contains(std::to_string(limit.maximum + 1)));

        // The maximum itself is allowed.
        v1::RunRequest at_max = echo_request();
        limit.set(*at_max.mutable_limits(), limit.maximum);
        auto result = make_run_plan(at_max, test_defaults(), test_maxima());
        CHECK(std::holds_alternative<RunPlan>(result));
    }
}

TEST_CASE("a huge 64-bit limit is refused, not wrapped by the unit conversion", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    request.mutable_limits()->set_memory_kb(UINT64_MAX / 512);  // * 1024 would overflow
    CHECK(error_of(request).field == "limits.memory_kb");
}

TEST_CASE("a default above the maximum is refused too", "[unit][run_plan]") {
    LimitSet defaults = test_defaults();
    defaults.nofile = 1'000;  // above test_maxima().nofile
    auto result = make_run_plan(echo_request(), defaults, test_maxima());
    REQUIRE(std::holds_alternative<PlanError>(result));
    CHECK(std::get<PlanError>(result).field == "limits.nofile");
}

// ------------------------------------------------------------------------------------------------ argv

TEST_CASE("argv is copied into the plan as it is", "[unit][run_plan]") {
    const RunPlan plan = plan_of(request_for({"python3", "-c", "print(1)", ""}));
    CHECK(plan.argv == std::vector<std::string>{"python3", "-c", "print(1)", ""});
}

TEST_CASE("an empty argv is refused", "[unit][run_plan]") {
    const PlanError error = error_of(v1::RunRequest{});
    CHECK(error.field == "argv");
    CHECK_FALSE(error.message.empty());
}

TEST_CASE("an empty argv[0] is refused", "[unit][run_plan]") {
    CHECK(error_of(request_for({"", "x"})).field == "argv");
}

TEST_CASE("an argument with a NUL byte is refused", "[unit][run_plan]") {
    const PlanError error = error_of(request_for({"/bin/echo", std::string("a\0b", 3)}));
    CHECK(error.field == "argv");
    CHECK_THAT(error.message, Contains("NUL"));
    CHECK(error_of(request_for({std::string("/bin/echo\0", 10)})).field == "argv");
}

TEST_CASE("too many arguments or too many argv bytes are refused", "[unit][run_plan]") {
    v1::RunRequest many = echo_request();
    for (int i = 0; i < 4096; ++i) many.add_argv("a");
    CHECK(error_of(many).field == "argv");

    v1::RunRequest big = request_for({"/bin/echo", std::string(1024 * 1024, 'x')});
    CHECK(error_of(big).field == "argv");
}

// ------------------------------------------------------------------------------------------------- env

TEST_CASE("the default environment is present", "[unit][run_plan]") {
    const RunPlan plan = plan_of(echo_request());
    CHECK(env_value(plan, "PATH") == std::string(jaild::sandbox_path_env));
    CHECK(env_value(plan, "HOME") == std::string("/workspace"));
    CHECK(env_value(plan, "LANG").has_value());
    CHECK_FALSE(env_value(plan, "LANG")->empty());
    for (const std::string& entry : plan.env) CHECK(entry.find('=') != std::string::npos);
}

TEST_CASE("the request's environment is added and overrides the defaults", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    (*request.mutable_env())["PATH"] = "/opt/bin";
    (*request.mutable_env())["HOME"] = "/tmp";
    (*request.mutable_env())["LANG"] = "en_US.UTF-8";
    (*request.mutable_env())["FOO"] = "a=b=c";
    (*request.mutable_env())["EMPTY"] = "";
    const RunPlan plan = plan_of(request);
    CHECK(env_value(plan, "PATH") == std::string("/opt/bin"));
    CHECK(env_value(plan, "HOME") == std::string("/tmp"));
    CHECK(env_value(plan, "LANG") == std::string("en_US.UTF-8"));
    CHECK(env_value(plan, "FOO") == std::string("a=b=c"));
    CHECK(env_value(plan, "EMPTY") == std::string(""));
    for (const char* key : {"PATH", "HOME", "LANG", "FOO"}) {
        INFO(key);
        CHECK(env_count(plan, key) == 1);
    }
}

TEST_CASE("an environment name that is empty or holds '=' or NUL is refused", "[unit][run_plan]") {
    for (const std::string& name : {std::string(""), std::string("A=B"), std::string("="), std::string("A\0B", 3)}) {
        INFO("name \"" << name << "\"");
        v1::RunRequest request = echo_request();
        (*request.mutable_env())[name] = "value";
        CHECK(error_of(request).field == "env");
    }
}

TEST_CASE("an environment value with a NUL byte is refused naming the variable", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    (*request.mutable_env())["SECRET_NAME"] = std::string("a\0b", 3);
    const PlanError error = error_of(request);
    CHECK(error.field == "env");
    CHECK_THAT(error.message, Contains("SECRET_NAME"));
}

TEST_CASE("argv and env together are bounded", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    (*request.mutable_env())["BIG"] = std::string(700 * 1024, 'e');
    request.add_argv(std::string(400 * 1024, 'a'));
    CHECK(error_of(request).field == "argv");
}

// ------------------------------------------------------------------------------------------------- cwd

TEST_CASE("cwd defaults to /workspace and accepts absolute clean paths", "[unit][run_plan]") {
    CHECK(plan_of(echo_request()).cwd == "/workspace");
    for (const char* cwd : {"/", "/workspace", "/workspace/src", "/tmp", "/usr/lib/..x"}) {
        INFO(cwd);
        v1::RunRequest request = echo_request();
        request.set_cwd(cwd);
        CHECK(plan_of(request).cwd == cwd);
    }
}

TEST_CASE("cwd that is relative or not clean is refused", "[unit][run_plan]") {
    for (const std::string& cwd : {std::string("workspace"), std::string("./workspace"), std::string("/workspace/.."),
                                   std::string("/workspace/../etc"), std::string("/../workspace"),
                                   std::string("/workspace/./src"), std::string("//workspace"), std::string("/a//b"),
                                   std::string("/work\0space", 11), "/" + std::string(4096, 'a')}) {
        INFO("cwd \"" << cwd << "\"");
        v1::RunRequest request = echo_request();
        request.set_cwd(cwd);
        const PlanError error = error_of(request);
        CHECK(error.field == "cwd");
        CHECK_FALSE(error.message.empty());
    }
}

// ----------------------------------------------------------------------------------------------- files

TEST_CASE("files are kept in order with their content and executable bit", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    add_file(request, "main.py", "print(1)\n");
    add_file(request, "bin/run.sh", "#!/bin/sh\n", true);
    add_file(request, "data/a/b/c.bin", std::string("\0\1\2", 3));
    add_file(request, "ab");  // shares a prefix with "a..." names but is no directory of them
    add_file(request, "..hidden");
    const RunPlan plan = plan_of(request);
    REQUIRE(plan.files.size() == 5);
    CHECK(plan.files[0].path == "main.py");
    CHECK(plan.files[0].content == "print(1)\n");
    CHECK_FALSE(plan.files[0].executable);
    CHECK(plan.files[1].path == "bin/run.sh");
    CHECK(plan.files[1].executable);
    CHECK(plan.files[2].content == std::string("\0\1\2", 3));
    CHECK(plan.files[4].path == "..hidden");
}

TEST_CASE("a file path that escapes or is not clean is refused naming the file", "[unit][run_plan]") {
    for (const std::string& path : {std::string("../x"), std::string("/abs"), std::string("a//b"), std::string("a/./b"),
                                    std::string("a/../b"), std::string("a\0b", 3), std::string(""), std::string("a/"),
                                    std::string("."), std::string(".."), std::string("x/.."), std::string(256, 'n')}) {
        INFO("path \"" << path << "\"");
        v1::RunRequest request = echo_request();
        add_file(request, "fine.txt");
        add_file(request, path);
        const PlanError error = error_of(request);
        CHECK(error.field == "files");
        CHECK_THAT(error.message, Contains("\"" + path + "\""));
    }
}

TEST_CASE("a file given twice is refused naming it", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    add_file(request, "dup.txt", "one");
    add_file(request, "other.txt");
    add_file(request, "dup.txt", "two");
    const PlanError error = error_of(request);
    CHECK(error.field == "files");
    CHECK_THAT(error.message, Contains("\"dup.txt\""));
}

TEST_CASE("a file that is also another file's directory is refused naming both", "[unit][run_plan]") {
    for (const auto& [first, second] :
         {std::pair<std::string, std::string>{"a", "a/b"}, {"a/b", "a"}, {"a", "a/b/c"}, {"x/y", "x/y/z"}}) {
        INFO(first << " and " << second);
        v1::RunRequest request = echo_request();
        add_file(request, first);
        add_file(request, second);
        const PlanError error = error_of(request);
        CHECK(error.field == "files");
        const std::string& dir = first.size() < second.size() ? first : second;
        const std::string& file = first.size() < second.size() ? second : first;
        CHECK_THAT(error.message, Contains("\"" + dir + "\""));
        CHECK_THAT(error.message, Contains("\"" + file + "\""));
    }
    // Shared prefixes that are not directories are fine.
    v1::RunRequest request = echo_request();
    add_file(request, "a");
    add_file(request, "ab/c");
    add_file(request, "a.d/e");
    CHECK(plan_of(request).files.size() == 3);
}

TEST_CASE("files larger in total than the workspace are refused", "[unit][run_plan]") {
    const std::uint64_t tmp_bytes = test_defaults().tmp_kb * 1024;
    v1::RunRequest exact = echo_request();
    add_file(exact, "half1", std::string(tmp_bytes / 2, 'a'));
    add_file(exact, "half2", std::string(tmp_bytes - tmp_bytes / 2, 'b'));
    CHECK(plan_of(exact).files.size() == 2);

    v1::RunRequest over = echo_request();
    add_file(over, "half1", std::string(tmp_bytes / 2, 'a'));
    add_file(over, "too-much", std::string(tmp_bytes - tmp_bytes / 2 + 1, 'b'));
    const PlanError error = error_of(over);
    CHECK(error.field == "files");
    CHECK_THAT(error.message, Contains(std::to_string(tmp_bytes + 1)));

    // A larger requested workspace makes room.
    over.mutable_limits()->set_tmp_kb(test_defaults().tmp_kb * 2);
    CHECK(plan_of(over).files.size() == 2);
}

TEST_CASE("more than 1024 files are refused", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    for (int i = 0; i <= 1024; ++i) add_file(request, "f" + std::to_string(i), "");
    CHECK(error_of(request).field == "files");
}

TEST_CASE("stdin and stdin_stream are carried into the plan", "[unit][run_plan]") {
    v1::RunRequest request = echo_request();
    request.set_stdin(std::string("line\0two", 8));
    request.set_stdin_stream(true);
    const RunPlan plan = plan_of(request);
    CHECK(plan.stdin_data == std::string("line\0two", 8));
    CHECK(plan.stdin_stream);
}

// ---------------------------------------------------------------------------------- check_relative_path

TEST_CASE("check_relative_path accepts clean relative paths", "[unit][run_plan]") {
    for (const std::string& path :
         {std::string("a"), std::string("a/b/c"), std::string(".hidden"), std::string("..a"), std::string("a.."),
          std::string("..."), std::string("a b/c d"), std::string("\xc3\xa9t\xc3\xa9")}) {
        INFO(path);
        CHECK(check_relative_path(path).empty());
    }
}

TEST_CASE("check_relative_path refuses empty, absolute, dotted, NUL and empty-component paths", "[unit][run_plan]") {
    for (const std::string& path :
         {std::string(""), std::string("/"), std::string("/a"), std::string("."), std::string(".."), std::string("./a"),
          std::string("a/."), std::string("a/.."), std::string("a/../b"), std::string("a//b"), std::string("a/"),
          std::string("//"), std::string("a\0", 2), std::string("\0", 1)}) {
        INFO("path \"" << path << "\"");
        CHECK_FALSE(check_relative_path(path).empty());
    }
}

TEST_CASE("check_relative_path bounds components at 255 bytes and paths at 2048", "[unit][run_plan]") {
    CHECK(check_relative_path(std::string(255, 'c')).empty());
    CHECK(check_relative_path("dir/" + std::string(255, 'c')).empty());
    CHECK_FALSE(check_relative_path(std::string(256, 'c')).empty());
    CHECK_FALSE(check_relative_path("dir/" + std::string(256, 'c') + "/x").empty());

    // 8 components of 254 bytes and a last of 8, with 8 slashes: exactly 2048 bytes, each component within
    // bounds (the limit stays well below PATH_MAX once the sandbox root and /workspace are prepended).
    std::string longest;
    for (int i = 0; i < 8; ++i) longest += std::string(254, static_cast<char>('a' + i)) + "/";
    longest += std::string(8, 'z');
    REQUIRE(longest.size() == 2048);
    CHECK(check_relative_path(longest).empty());
    CHECK_THAT(check_relative_path(longest + "x"), Contains("2048"));
}
