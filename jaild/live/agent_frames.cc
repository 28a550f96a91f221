#include "jaild/live/agent_frames.h"

namespace jaild::live {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

}  // namespace

std::uint32_t read_u32(std::string_view in) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
}

std::string encode_frame(FrameType type, std::uint32_t id, std::string_view payload) {
    std::string out;
    out.reserve(header_bytes + payload.size());
    put_u32(out, static_cast<std::uint32_t>(payload.size() + 5));
    out.push_back(static_cast<char>(type));
    put_u32(out, id);
    out.append(payload);
    return out;
}

std::optional<std::size_t> payload_length(std::string_view header) {
    if (header.size() < header_bytes) return std::nullopt;
    const std::uint32_t length = read_u32(header);
    if (length < 5 || length - 5 > max_payload) return std::nullopt;
    return length - 5;
}

}  // namespace jaild::live
