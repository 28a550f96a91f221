#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace jaild {

namespace {

constexpr std::pair<std::string_view, spdlog::level::level_enum> levels[] = {
    {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
};

// spdlog::level::from_str maps unknown names to "off", which would silence a typo'd config.
spdlog::level::level_enum parse_level(std::string_view name) {
    auto it = std::ranges::find(levels, name, &std::pair<std::string_view, spdlog::level::level_enum>::first);
    if (it == std::end(levels)) throw ConfigError("unknown log level \"" + std::string(name) + "\"");
    return it->second;
}

// A lead byte's valid range for the byte after it; the ranges exclude overlong forms, UTF-16 surrogates and
// code points above U+10FFFF (Unicode 15, table 3-7).
struct Utf8Lead {
    unsigned char lo, hi;
    unsigned char second_lo, second_hi;
    std::size_t length;
};

constexpr Utf8Lead utf8_leads[] = {
    {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3}, {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3},
    {0xEE, 0xEF, 0x80, 0xBF, 3}, {0xF0, 0xF0, 0x90, 0xBF, 4}, {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4},
};

struct Utf8Sequence {
    std::size_t length;  // bytes consumed; never 0
    bool valid;
};

// Decodes the non-ASCII sequence at the start of `text`. An invalid one is consumed up to its longest valid
// prefix (at least one byte), which becomes a single U+FFFD: the "maximal subpart" practice of Unicode 3.9.
Utf8Sequence next_utf8_sequence(std::string_view text) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    auto lead = std::ranges::find_if(utf8_leads, [&](const Utf8Lead& l) { return byte(0) >= l.lo && byte(0) <= l.hi; });
    if (lead == std::end(utf8_leads)) return {1, false};
    for (std::size_t i = 1; i < lead->length; ++i) {
        unsigned char lo = i == 1 ? lead->second_lo : 0x80, hi = i == 1 ? lead->second_hi : 0xBF;
        if (i >= text.size() || byte(i) < lo || byte(i) > hi) return {i, false};
    }
    return {lead->length, true};
}

// JSON's two-character escapes; other control characters become \u00XX.
using ShortEscape = std::pair<char, std::string_view>;
constexpr ShortEscape short_escapes[] = {
    {'"', R"(\")"}, {'\\', R"(\\)"}, {'\n', R"(\n)"}, {'\r', R"(\r)"}, {'\t', R"(\t)"},
};

void append_control_escape(std::string& out, unsigned char c) {
    constexpr char hex[] = "0123456789abcdef";
    out += "\\u00";
    out += hex[c >> 4];
    out += hex[c & 0xF];
}

// Inserts the (JSON-escaped) log message, so the JSON pattern below stays one valid object per line.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        auto escaped = json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(escaped.data(), escaped.data() + escaped.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

// The program name goes into the pattern verbatim, so a '%' in it must not start a flag.
std::string pattern_literal(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '%') out += '%';
        out += c;
    }
    return out;
}

std::unique_ptr<spdlog::formatter> make_formatter(std::string_view program, bool json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    if (json) {
        formatter->add_flag<JsonMessageFlag>('*').set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","program":")" + pattern_literal(json_escape(program)) +
            R"(","msg":"%*"})");
    } else {
        formatter->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [" + pattern_literal(program) + "] [%^%l%$] %v");
    }
    return formatter;
}

}  // namespace

std::string json_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            auto seq = next_utf8_sequence(text.substr(i));
            out += seq.valid ? text.substr(i, seq.length) : "\\ufffd";
            i += seq.length;
            continue;
        }
        auto escape = std::ranges::find(short_escapes, static_cast<char>(c), &ShortEscape::first);
        if (escape != std::end(short_escapes))
            out += escape->second;
        else if (c < 0x20)
            append_control_escape(out, c);
        else
            out += static_cast<char>(c);
        ++i;
    }
    return out;
}

void init_logging(std::string_view program, const LogConfig& config) {
    auto level = parse_level(config.level);
    // No colour in JSON mode: escape sequences would end up inside the log collector's records.
    spdlog::sink_ptr sink;
    if (config.json)
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    else
        sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>(std::string(program), std::move(sink));
    logger->set_formatter(make_formatter(program, config.json));
    logger->set_level(level);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace jaild
