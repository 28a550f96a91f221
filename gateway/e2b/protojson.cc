#include "gateway/e2b/protojson.h"

#include <boost/json/parse.hpp>
#include <cstdint>

namespace jaild::gateway::e2b {

namespace {

// The value of a base64 digit of either alphabet, or -1.
int digit_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

}  // namespace

ConnectError invalid(std::string message) { return ConnectError{ConnectCode::invalid_argument, std::move(message)}; }

std::variant<boost::json::object, ConnectError> message_object(std::string_view body) {
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(body, ec);
    if (ec) return invalid("the request is not valid JSON: " + ec.message());
    if (!value.is_object()) return invalid("the request must be a JSON object");
    return std::move(value.get_object());
}

const boost::json::value* find_field(const boost::json::object& object, std::string_view json_name,
                                     std::string_view proto_name) {
    if (const auto* value = object.if_contains(json_name)) return value;
    return object.if_contains(proto_name);
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 == 0 && text.ends_with("==")) {
        text.remove_suffix(2);
    } else if (text.size() % 4 == 0 && text.ends_with('=')) {
        text.remove_suffix(1);
    }
    if (text.size() % 4 == 1) return std::nullopt;  // one digit alone carries less than a byte
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t bits = 0;
    int held = 0;
    for (char c : text) {
        const int value = digit_value(c);
        if (value < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        held += 6;
        if (held >= 8) {
            held -= 8;
            out.push_back(static_cast<char>((bits >> held) & 0xff));
        }
    }
    // Bits left over past the last whole byte are ignored, as Go's and protobuf-es's decoders ignore them.
    return out;
}

}  // namespace jaild::gateway::e2b
