#include "common/framing.h"

namespace jaild::framing {

namespace {
class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "jaild.framing"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::too_large: return "frame larger than the maximum";
            case errc::truncated: return "connection closed in the middle of a frame";
            case errc::malformed: return "frame is not a valid protobuf message";
        }
        return "unknown framing error";
    }
};
}  // namespace

const std::error_category& category() noexcept {
    static const Category instance;
    return instance;
}

std::array<unsigned char, header_bytes> encode_header(std::uint32_t length) noexcept {
    return {static_cast<unsigned char>(length >> 24), static_cast<unsigned char>(length >> 16),
            static_cast<unsigned char>(length >> 8), static_cast<unsigned char>(length)};
}

std::uint32_t decode_header(const std::array<unsigned char, header_bytes>& h) noexcept {
    return (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) | (std::uint32_t{h[2]} << 8) | h[3];
}

std::string encode(const google::protobuf::MessageLite& message) {
    const std::size_t size = message.ByteSizeLong();
    std::string frame(header_bytes + size, '\0');
    const auto header = encode_header(static_cast<std::uint32_t>(size));
    std::copy(header.begin(), header.end(), frame.begin());
    message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(frame.data() + header_bytes));
    return frame;
}

bool decode(const std::string& payload, google::protobuf::MessageLite& message) {
    return message.ParseFromString(payload);
}

}  // namespace jaild::framing
