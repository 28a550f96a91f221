#include "gateway/e2b/connect_envelope.h"

namespace jaild::gateway::e2b {

namespace {

std::uint32_t read_length(std::string_view header) {
    std::uint32_t length = 0;
    for (std::size_t i = 1; i < kEnvelopeHeaderBytes; ++i)
        length = (length << 8) | static_cast<unsigned char>(header[i]);
    return length;
}

}  // namespace

std::string describe(EnvelopeError error, std::size_t max_message_bytes) {
    switch (error) {
        case EnvelopeError::truncated: return "the request body ends inside a Connect envelope";
        case EnvelopeError::too_large:
            return "a Connect message is larger than " + std::to_string(max_message_bytes) + " bytes";
        case EnvelopeError::compressed: return "compressed Connect messages are not accepted (send them uncompressed)";
        case EnvelopeError::unexpected_flags: return "a request's Connect envelope must have flags 0";
        case EnvelopeError::no_message: return "the request body holds no Connect message";
        case EnvelopeError::extra_message: return "a server-streaming request must hold exactly one Connect message";
    }
    return "malformed Connect envelope";
}

std::variant<std::monostate, Envelope, EnvelopeError> EnvelopeDecoder::next() {
    if (failed_) return *failed_;
    if (buffer_.size() < kEnvelopeHeaderBytes) return std::monostate{};
    const std::uint32_t length = read_length(buffer_);
    if (length > max_) {
        failed_ = EnvelopeError::too_large;
        return *failed_;
    }
    if (buffer_.size() - kEnvelopeHeaderBytes < length) return std::monostate{};
    Envelope envelope{static_cast<std::uint8_t>(buffer_[0]), buffer_.substr(kEnvelopeHeaderBytes, length)};
    buffer_.erase(0, kEnvelopeHeaderBytes + length);
    return envelope;
}

std::variant<std::string, EnvelopeError> parse_stream_request(std::string_view body, std::size_t max_message_bytes) {
    if (body.empty()) return EnvelopeError::no_message;
    EnvelopeDecoder decoder(max_message_bytes);
    decoder.push(body);
    auto first = decoder.next();
    if (auto* error = std::get_if<EnvelopeError>(&first)) return *error;
    if (std::holds_alternative<std::monostate>(first)) return EnvelopeError::truncated;
    Envelope& envelope = std::get<Envelope>(first);
    if (envelope.flags & kFlagCompressed) return EnvelopeError::compressed;
    if (envelope.flags != 0) return EnvelopeError::unexpected_flags;
    if (decoder.pending()) return EnvelopeError::extra_message;
    return std::move(envelope.data);
}

std::string encode_envelope(std::uint8_t flags, std::string_view data) {
    std::string out;
    out.reserve(kEnvelopeHeaderBytes + data.size());
    out.push_back(static_cast<char>(flags));
    const auto length = static_cast<std::uint32_t>(data.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xff));
    out.append(data);
    return out;
}

std::string encode_message(std::string_view json) { return encode_envelope(0, json); }

std::string encode_end_stream(const std::optional<ConnectError>& error) {
    if (!error) return encode_envelope(kFlagEndStream, "{}");
    return encode_envelope(kFlagEndStream, "{\"error\":" + error_json(*error) + "}");
}

}  // namespace jaild::gateway::e2b
