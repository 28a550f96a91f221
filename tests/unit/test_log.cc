#include <spdlog/spdlog.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include "common/log.h"

using jaild::json_escape;
using jaild::LogConfig;

namespace {

// Sends fd 2 to a temporary file for its lifetime; text() returns what was written so far.
class StderrCapture {
public:
    StderrCapture() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
        REQUIRE(file_ != nullptr);
        REQUIRE(saved_ >= 0);
        std::fflush(stderr);
        REQUIRE(::dup2(::fileno(file_), STDERR_FILENO) >= 0);
    }
    ~StderrCapture() {
        std::fflush(stderr);
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        std::fclose(file_);
    }
    std::string text() {
        std::fflush(stderr);
        std::string out;
        std::rewind(file_);
        for (int c; (c = std::fgetc(file_)) != EOF;) out += static_cast<char>(c);
        return out;
    }

private:
    std::FILE* file_;
    int saved_;
};

// Puts back the default logger that was installed before the test, so other tests keep their logging.
struct RestoreDefaultLogger {
    std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
    ~RestoreDefaultLogger() { spdlog::set_default_logger(saved); }
};

std::string log_one(const LogConfig& config, std::string_view message) {
    RestoreDefaultLogger restore;
    StderrCapture capture;
    jaild::init_logging("jaild", config);
    spdlog::info("{}", message);
    return capture.text();
}

}  // namespace

TEST_CASE("json_escape escapes quotes, backslashes and control characters", "[unit][log]") {
    CHECK(json_escape("") == "");
    CHECK(json_escape("plain text 123") == "plain text 123");
    CHECK(json_escape(R"(say "hi")") == R"(say \"hi\")");
    CHECK(json_escape(R"(C:\dir\)") == R"(C:\\dir\\)");
    CHECK(json_escape("a\nb\r\tc") == R"(a\nb\r\tc)");
    CHECK(json_escape(std::string_view("\0\x01\x1f\x7f", 4)) == "\\u0000\\u0001\\u001f\x7f");
    CHECK(json_escape("\b\f\x1b[0m") == R"(\u0008\u000c\u001b[0m)");
    CHECK(json_escape("/") == "/");
}

TEST_CASE("json_escape keeps valid UTF-8 and replaces invalid bytes", "[unit][log]") {
    CHECK(json_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(json_escape("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF, the last code point
    CHECK(json_escape("a\xff!") == R"(a\ufffd!)");
    CHECK(json_escape("\x80\xbf") == R"(\ufffd\ufffd)");                      // lone continuation bytes
    CHECK(json_escape("\xc0\xaf") == R"(\ufffd\ufffd)");                      // overlong '/'
    CHECK(json_escape("\xe0\x80\xaf") == R"(\ufffd\ufffd\ufffd)");            // overlong 3-byte form
    CHECK(json_escape("\xed\xa0\x80") == R"(\ufffd\ufffd\ufffd)");            // UTF-16 surrogate
    CHECK(json_escape("\xf4\x90\x80\x80") == R"(\ufffd\ufffd\ufffd\ufffd)");  // above U+10FFFF
    // A truncated sequence is one replacement, and the byte that broke it is kept.
    CHECK(json_escape("\xe2\x82!") == R"(\ufffd!)");
    CHECK(json_escape("\xf0\x9f\x98") == R"(\ufffd)");
    CHECK(json_escape("\xe2\x82\"") == R"(\ufffd\")");
}

TEST_CASE("init_logging rejects an unknown level", "[unit][log]") {
    RestoreDefaultLogger restore;
    CHECK_THROWS_AS(jaild::init_logging("jaild", LogConfig{.level = "verbose"}), jaild::ConfigError);
    CHECK_THROWS_AS(jaild::init_logging("jaild", LogConfig{.level = "warning"}), jaild::ConfigError);
    CHECK_NOTHROW(jaild::init_logging("jaild", LogConfig{.level = "off"}));
}

TEST_CASE("text logging writes one line with time, program and level", "[unit][log]") {
    auto out = log_one(LogConfig{.level = "info"}, "hello world");
    CHECK(std::regex_match(
        out, std::regex(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[jaild\] \[info\] hello world\n)")));
}

TEST_CASE("JSON logging writes one escaped object per line", "[unit][log]") {
    auto out = log_one(LogConfig{.level = "info", .json = true}, "say \"hi\"\nback\\slash \x01 bad\xff");
    CAPTURE(out);
    std::smatch m;
    REQUIRE(std::regex_match(
        out, m, std::regex(R"re(\{"time":"([^"]+)","level":"info","program":"jaild","msg":"(.*)"\}\n)re")));
    CHECK(std::regex_match(m[1].str(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d))")));
    CHECK(m[2].str() == R"(say \"hi\"\nback\\slash \u0001 bad\ufffd)");
}

TEST_CASE("the level filters messages", "[unit][log]") {
    RestoreDefaultLogger restore;
    StderrCapture capture;
    jaild::init_logging("jaild", LogConfig{.level = "warn", .json = true});
    spdlog::info("dropped");
    spdlog::warn("kept");
    spdlog::error("kept too");
    auto out = capture.text();
    CHECK(out.find("dropped") == std::string::npos);
    CHECK_THAT(out, Catch::Matchers::Contains(R"("msg":"kept")"));
    CHECK_THAT(out, Catch::Matchers::Contains(R"("level":"error","program":"jaild","msg":"kept too")"));
}
