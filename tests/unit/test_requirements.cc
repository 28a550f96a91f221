// requirements::parse and check: what the gateway and jaild accept as a request's `requirements`, what they
// refuse (with the line named), and when the sandbox's own Python already satisfies a requirement.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <variant>

#include "common/requirements.h"
#include "gateway/request_parsing.h"

namespace req = jaild::requirements;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::vector<req::Requirement> accepted(const std::string& text) {
    auto parsed = req::parse(text);
    if (auto* error = std::get_if<req::Error>(&parsed)) FAIL(error->message);
    return std::get<std::vector<req::Requirement>>(parsed);
}

req::Error refused(const std::string& text) {
    auto parsed = req::parse(text);
    REQUIRE(std::holds_alternative<req::Error>(parsed));
    return std::get<req::Error>(parsed);
}

}  // namespace

TEST_CASE("plain requirements are parsed and normalized", "[unit][requirements]") {
    const auto list = accepted(
        "# data tools\n"
        "\n"
        "NumPy\n"
        "  Typing_Extensions >= 4.0 , < 5   # a comment\r\n"
        "requests[Socks,security]==2.28.*\n"
        "tomli (>=1.1)\n"
        "colorama; sys_platform == \"win32\"\n");
    REQUIRE(list.size() == 5);
    CHECK(list[0].line == 3);
    CHECK(list[0].canonical() == "numpy");
    CHECK(list[1].line == 4);
    CHECK(list[1].text == "Typing_Extensions >= 4.0 , < 5");
    CHECK(list[1].canonical() == "typing-extensions<5,>=4.0");
    CHECK(list[2].canonical() == "requests[security,socks]==2.28.*");
    CHECK(list[3].canonical() == "tomli>=1.1");
    CHECK(list[4].canonical() == "colorama;sys_platform == \"win32\"");
    CHECK(accepted("").empty());
    CHECK(accepted("\n# only a comment\n").empty());
}

TEST_CASE("options, URLs, paths and anything else are refused with the line", "[unit][requirements]") {
    const std::pair<const char*, const char*> cases[] = {
        {"-e git+https://example.com/x.git#egg=x", "editable installs (-e)"},
        {"--editable .", "editable installs (-e)"},
        {"-r other.txt", "other requirement files (-r)"},
        {"--requirement=other.txt", "other requirement files (--requirement)"},
        {"-c constraints.txt", "other requirement files (-c)"},
        {"--index-url https://pypi.org/simple", "package indexes and links (--index-url)"},
        {"-i https://pypi.org/simple", "package indexes and links (-i)"},
        {"--extra-index-url https://x", "package indexes and links (--extra-index-url)"},
        {"--find-links /tmp", "package indexes and links (--find-links)"},
        {"--pre", "options (--pre) are not accepted"},
        {"--trusted-host example.com", "package indexes and links (--trusted-host)"},
        {"numpy --hash=sha256:abcd", "options (--hash) are not accepted"},
        {"https://example.com/pkg-1.0-py3-none-any.whl", "URLs are not accepted"},
        {"pkg @ https://example.com/pkg.whl", "URLs are not accepted"},
        {"pkg @ file:foo", "direct references"},
        {"./local/pkg", "paths and archives"},
        {"/abs/pkg", "paths and archives"},
        {"~/pkg", "paths and archives"},
        {"pkg-1.0-py3-none-any.whl", "paths and archives"},
        {"dir\\pkg", "paths and archives"},
        {"numpy \\", "line continuations"},
        {"numpy=1.0", "not a requirement"},
        {"num$py", "not a requirement"},
        {"numpy >=", "not a requirement"},
        {"numpy ==1.*.2", "not a requirement"},
        {"numpy >=1.*", "not a requirement"},
        {"numpy[", "not a requirement"},
        {"numpy; os_name == `x`", "not a requirement"},
        {"numpy\x01", "control character"},
    };
    for (const auto& [line, reason] : cases) {
        INFO(line);
        const req::Error error = refused(std::string("numpy\n") + line + "\n");
        CHECK(error.line == 2);
        CHECK_THAT(error.message, StartsWith("requirements line 2 (\""));
        CHECK_THAT(error.message, Contains(reason));
    }
}

TEST_CASE("requirements are limited to 64 KiB and 200 lines", "[unit][requirements]") {
    std::string lines;
    for (int i = 0; i < 200; ++i) lines += "pkg" + std::to_string(i) + "\n";
    CHECK(accepted(lines).size() == 200);
    const req::Error many = refused(lines + "one-more\n");
    CHECK(many.line == 0);
    CHECK_THAT(many.message, Contains("201 lines, more than the limit of 200"));
    std::string big = "# " + std::string(req::kMaxBytes - 3, 'x') + "\n";
    CHECK(accepted(big).empty());
    const req::Error large = refused(big + "x");
    CHECK_THAT(large.message, Contains("65537 bytes, more than the limit of 65536"));
}

TEST_CASE("installed distributions satisfy requirements without pip", "[unit][requirements]") {
    const std::map<std::string, std::string> installed = {
        {"numpy", "1.24.2"}, {"pandas", "1.5.3"}, {"odd", "2.0rc1"}, {"debianized", "0.20.1+dfsg"}};
    const auto verdict = [&](const std::string& line) { return req::check(accepted(line).at(0), installed); };
    using V = req::Verdict;
    CHECK(verdict("numpy") == V::satisfied);
    CHECK(verdict("NumPy>=1.20") == V::satisfied);
    CHECK(verdict("numpy>=1.20,<2") == V::satisfied);
    CHECK(verdict("numpy==1.24.2") == V::satisfied);
    CHECK(verdict("numpy==1.24.2.0") == V::satisfied);
    CHECK(verdict("numpy==1.24.*") == V::satisfied);
    CHECK(verdict("numpy!=1.23.*") == V::satisfied);
    CHECK(verdict("numpy~=1.20") == V::satisfied);
    CHECK(verdict("numpy~=1.24.0") == V::satisfied);
    CHECK(verdict("numpy>1.24.1") == V::satisfied);
    CHECK(verdict("numpy<=1.24.2") == V::satisfied);
    CHECK(verdict("numpy>=2") == V::not_satisfied);
    CHECK(verdict("numpy==1.24.3") == V::not_satisfied);
    CHECK(verdict("numpy~=1.25.0") == V::not_satisfied);
    CHECK(verdict("numpy~=1.23.0") == V::not_satisfied);
    CHECK(verdict("numpy!=1.24.2") == V::not_satisfied);
    CHECK(verdict("numpy<1.24.2") == V::not_satisfied);
    CHECK(verdict("not-installed") == V::not_satisfied);
    // What only pip can decide.
    CHECK(verdict("numpy===1.24.2") == V::unknown);
    CHECK(verdict("numpy>=1.0rc1") == V::unknown);
    CHECK(verdict("odd") == V::unknown);
    CHECK(verdict("debianized>=0.1") == V::unknown);
    CHECK(verdict("numpy[extra]") == V::unknown);
    CHECK(verdict("numpy; python_version >= \"3\"") == V::unknown);
    // A clause that fails decides even beside one pip would have to judge.
    CHECK(verdict("numpy>=1.0rc1,<1.0") == V::not_satisfied);
}

TEST_CASE("codec: /execute's requirements in both dialects, refused lines named", "[unit][requirements][codec]") {
    using jaild::gateway::FieldError;
    using jaild::gateway::ParsedRequest;
    const auto code = jaild::gateway::parse_execute(
        R"({"language":"python","code":"import x","requirements":"x==1.0\n# c\n"})", 50 * 1024);
    REQUIRE(std::holds_alternative<ParsedRequest>(code));
    CHECK(std::get<ParsedRequest>(code).message.execute().requirements() == "x==1.0\n# c\n");
    const auto script =
        jaild::gateway::parse_execute(R"({"script":"def main():\n    return 1","requirements":"x"})", 50 * 1024);
    REQUIRE(std::holds_alternative<ParsedRequest>(script));
    CHECK(std::get<ParsedRequest>(script).message.execute().requirements() == "x");
    const auto refused =
        jaild::gateway::parse_execute(R"({"language":"python","code":"1","requirements":"x\n-r y.txt"})", 50 * 1024);
    REQUIRE(std::holds_alternative<FieldError>(refused));
    CHECK(std::get<FieldError>(refused).field == "requirements");
    CHECK(std::get<FieldError>(refused).message ==
          "requirements line 2 (\"-r y.txt\"): other requirement files (-r) are not accepted");
    const auto typed = jaild::gateway::parse_execute(R"({"language":"python","code":"1","requirements":1})", 1024);
    REQUIRE(std::holds_alternative<FieldError>(typed));
    CHECK(std::get<FieldError>(typed).message == "requirements must be a string");
}
