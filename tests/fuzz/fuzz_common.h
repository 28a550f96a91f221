// Shared by the fuzz targets: the invariant check that traps, and the checks several targets make (a
// validated RunPlan, a protobuf message's frame round trip, UTF-8, JSON text).
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message_lite.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/framing.h"
#include "jaild/plan_from_request.h"

// An invariant: when it does not hold, say which and trap (libFuzzer keeps the input as crash-<sha1>).
#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

namespace jaild::fuzz {

// A message's serialization with map entries sorted, so two equal messages give equal bytes.
inline std::string canonical(const google::protobuf::MessageLite& message) {
    std::string out;
    {
        google::protobuf::io::StringOutputStream raw(&out);
        google::protobuf::io::CodedOutputStream coded(&raw);
        coded.SetSerializationDeterministic(true);
        FUZZ_CHECK(message.SerializeToCodedStream(&coded));
    }
    return out;
}

// A message survives the trip over the socket: framed, the header names the payload's length, and the
// payload parses back to the same message.
template <class Message>
void check_frame_round_trip(const Message& message) {
    const std::string frame = framing::encode(message);
    FUZZ_CHECK(frame.size() >= framing::header_bytes);
    std::array<unsigned char, framing::header_bytes> header{};
    std::copy_n(frame.begin(), framing::header_bytes, header.begin());
    FUZZ_CHECK(framing::decode_header(header) == frame.size() - framing::header_bytes);
    Message back;
    FUZZ_CHECK(framing::decode(frame.substr(framing::header_bytes), back));
    FUZZ_CHECK(canonical(back) == canonical(message));
}

inline bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        std::size_t length = 0;
        std::uint32_t cp = 0;
        if (b0 < 0x80) {
            ++i;
            continue;
        } else if ((b0 & 0xE0) == 0xC0) {
            length = 2, cp = b0 & 0x1F;
        } else if ((b0 & 0xF0) == 0xE0) {
            length = 3, cp = b0 & 0x0F;
        } else if ((b0 & 0xF8) == 0xF0) {
            length = 4, cp = b0 & 0x07;
        } else {
            return false;
        }
        if (i + length > s.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (b & 0x3F);
        }
        const std::uint32_t min = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += length;
    }
    return true;
}

// Standard base64 (padded) decoded by hand, apart from the gateway's encoder; traps on a foreign character.
inline std::string base64_decode(std::string_view b64) {
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string decoded;
    std::uint32_t bits = 0;
    int count = 0;
    for (char c : b64) {
        if (c == '=') break;
        const std::size_t at = alphabet.find(c);
        FUZZ_CHECK(at != std::string_view::npos);
        bits = (bits << 6) | std::uint32_t(at);
        if ((count += 6) >= 8) decoded.push_back(char((bits >> (count -= 8)) & 0xFF));
    }
    return decoded;
}

// Text that must be one JSON value (an HTTP answer body, an NDJSON line).
inline boost::json::value parse_json_or_trap(std::string_view text) {
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(text, ec);
    if (ec) std::fprintf(stderr, "not JSON (%s): %.*s\n", ec.message().c_str(), int(text.size()), text.data());
    FUZZ_CHECK(!ec);
    return value;
}

// What every validated plan promises the code that carries it out (spawn, the workspace writer).
// `compile`: a compile step, whose cpu, wall and memory come from the language file rather than the maxima.
inline void check_plan(const RunPlan& plan, const LimitSet& maxima, bool compile = false) {
    FUZZ_CHECK(!plan.argv.empty() && !plan.argv.front().empty());
    for (const std::string& arg : plan.argv) FUZZ_CHECK(arg.find('\0') == std::string::npos);
    for (const std::string& entry : plan.env) {
        FUZZ_CHECK(entry.find('\0') == std::string::npos);
        FUZZ_CHECK(entry.find('=') != std::string::npos && entry.front() != '=');
    }
    FUZZ_CHECK(plan.cwd == workspace_dir || check_cwd_path(plan.cwd).empty());
    for (const PlanFile& file : plan.files) FUZZ_CHECK(check_relative_path(file.path).empty());
    const ResolvedLimits& l = plan.limits;
    FUZZ_CHECK(l.cpu_ms > 0 && (compile || l.cpu_ms <= maxima.cpu_ms));
    FUZZ_CHECK(l.wall_ms > 0 && (compile || l.wall_ms <= maxima.wall_ms));
    // A compile step gets at least the defaults for these, which may be above what the request asked.
    FUZZ_CHECK(l.nofile > 0 && (compile || l.nofile <= maxima.nofile));
    FUZZ_CHECK(l.nproc > 0 && (compile || l.nproc <= maxima.nproc));
    FUZZ_CHECK(l.output_bytes > 0 && (compile || l.output_bytes <= maxima.output_bytes));
    // Byte limits are kilobytes times 1024, never wrapped round to a small number (0 would be "no limit").
    FUZZ_CHECK(l.memory_bytes / 1024 > 0 && (compile || l.memory_bytes / 1024 <= maxima.memory_kb));
    FUZZ_CHECK(l.fsize_bytes / 1024 > 0 && (compile || l.fsize_bytes / 1024 <= maxima.fsize_kb));
    FUZZ_CHECK(l.tmp_bytes / 1024 > 0 && l.tmp_bytes / 1024 <= maxima.tmp_kb);
    FUZZ_CHECK(l.stack_bytes / 1024 > 0);
    std::uint64_t file_bytes = 0;
    for (const PlanFile& file : plan.files) file_bytes += file.content.size();
    FUZZ_CHECK(file_bytes <= l.tmp_bytes);
}

}  // namespace jaild::fuzz
