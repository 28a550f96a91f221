// The framing between jaild and a live sandbox's agent (languages/support/jaild_agent.py), on the sandbox's
// fd 3, both ways: a 4-byte big-endian length of what follows, a type byte, a 4-byte big-endian id (a
// request number or a pid) and the payload (JSON or raw bytes, at most max_payload). The agent's module
// docstring lists what each type carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jaild::live {

enum class FrameType : std::uint8_t {
    // jaild -> agent
    start = 0x01,
    stdin_data = 0x02,
    stdin_eof = 0x03,
    signal = 0x04,
    resize = 0x05,
    cell = 0x06,
    // agent -> jaild
    ready = 0x10,
    started = 0x11,
    stdout_data = 0x12,
    stderr_data = 0x13,
    exited = 0x14,
    cell_event = 0x15,
};

inline constexpr std::size_t max_payload = 1024 * 1024;
inline constexpr std::size_t header_bytes = 9;

struct Frame {
    FrameType type;
    std::uint32_t id = 0;
    std::string payload;
};

// The whole frame, header included.
std::string encode_frame(FrameType type, std::uint32_t id, std::string_view payload);
// A big-endian u32 from the first four bytes of `in`.
std::uint32_t read_u32(std::string_view in);
// From the 9-byte header: the payload's length, or nothing when the header is not a valid frame's.
std::optional<std::size_t> payload_length(std::string_view header);

}  // namespace jaild::live
