// Connect envelopes (gateway/e2b/connect_envelope.h): the bytes an E2B SDK, or anyone, sends as a streaming
// RPC's body, and what the gateway builds from them.
//
// Input: byte 0 chooses how many bytes each push gives the decoder (bits 0-6, plus one) and the maximum
// message size (bit 7: 16 bytes or 1 MiB); the rest is the byte stream.
//
// Invariants:
// - EnvelopeDecoder agrees with a separate model of the format (flags, u32 big-endian length, message; too
//   large as soon as a header says so; truncated when the bytes end inside one) however the bytes are split;
// - each envelope re-encodes to exactly the bytes it was read from;
// - parse_stream_request accepts exactly one whole envelope of flags 0 within the maximum, nothing after it;
// - an end-of-stream built from any message text is an end-of-stream envelope of valid JSON that says it;
// - data events carry the bytes exactly (base64 that e2b::base64_decode and a separate decoder give back),
//   and base64_decode never accepts what is not base64.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fuzz_common.h"
#include "gateway/e2b/connect_envelope.h"
#include "gateway/e2b/process_events.h"
#include "gateway/e2b/protojson.h"

using namespace jaild::gateway::e2b;

namespace {

struct ModelResult {
    std::vector<Envelope> envelopes;
    std::optional<EnvelopeError> error;  // too_large, or truncated at the end
};

// The format as docs/e2b.md states it, apart from the decoder.
ModelResult model(std::string_view bytes, std::size_t max) {
    ModelResult result;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        if (bytes.size() - pos < 5) {
            result.error = EnvelopeError::truncated;
            return result;
        }
        const std::uint64_t length = (std::uint64_t{static_cast<unsigned char>(bytes[pos + 1])} << 24) |
                                     (std::uint64_t{static_cast<unsigned char>(bytes[pos + 2])} << 16) |
                                     (std::uint64_t{static_cast<unsigned char>(bytes[pos + 3])} << 8) |
                                     std::uint64_t{static_cast<unsigned char>(bytes[pos + 4])};
        if (length > max) {
            result.error = EnvelopeError::too_large;
            return result;
        }
        if (bytes.size() - pos - 5 < length) {
            result.error = EnvelopeError::truncated;
            return result;
        }
        result.envelopes.push_back({static_cast<std::uint8_t>(bytes[pos]), std::string(bytes.substr(pos + 5, length))});
        pos += 5 + length;
    }
    return result;
}

ModelResult decode_in_pieces(std::string_view bytes, std::size_t max, std::size_t piece) {
    ModelResult result;
    EnvelopeDecoder decoder(max);
    for (std::size_t at = 0; at < bytes.size() || at == 0; at += piece) {
        decoder.push(bytes.substr(std::min(at, bytes.size()), piece));
        for (;;) {
            auto next = decoder.next();
            if (auto* error = std::get_if<EnvelopeError>(&next)) {
                result.error = *error;
                return result;
            }
            if (std::holds_alternative<std::monostate>(next)) break;
            result.envelopes.push_back(std::get<Envelope>(std::move(next)));
        }
        if (bytes.empty()) break;
    }
    if (decoder.pending()) result.error = EnvelopeError::truncated;
    return result;
}

void check_decoder(std::string_view bytes, std::size_t max, std::size_t piece) {
    const ModelResult expected = model(bytes, max);
    const ModelResult got = decode_in_pieces(bytes, max, piece);
    FUZZ_CHECK(got.error == expected.error);
    FUZZ_CHECK(got.envelopes.size() == expected.envelopes.size());
    std::string reencoded;
    for (std::size_t i = 0; i < got.envelopes.size(); ++i) {
        FUZZ_CHECK(got.envelopes[i].flags == expected.envelopes[i].flags);
        FUZZ_CHECK(got.envelopes[i].data == expected.envelopes[i].data);
        reencoded += encode_envelope(got.envelopes[i].flags, got.envelopes[i].data);
    }
    FUZZ_CHECK(bytes.substr(0, reencoded.size()) == reencoded);

    const auto request = parse_stream_request(bytes, max);
    const bool one_plain = !expected.error && expected.envelopes.size() == 1 && expected.envelopes[0].flags == 0;
    FUZZ_CHECK(std::holds_alternative<std::string>(request) == one_plain);
    if (one_plain) FUZZ_CHECK(std::get<std::string>(request) == expected.envelopes[0].data);
}

void check_end_stream(std::string_view text) {
    const std::string end = encode_end_stream(ConnectError{ConnectCode::not_found, std::string(text)});
    FUZZ_CHECK(end.size() >= kEnvelopeHeaderBytes && static_cast<std::uint8_t>(end[0]) == kFlagEndStream);
    const ModelResult read = model(end, end.size());
    FUZZ_CHECK(!read.error && read.envelopes.size() == 1);
    FUZZ_CHECK(jaild::fuzz::valid_utf8(read.envelopes[0].data));
    const boost::json::value value = jaild::fuzz::parse_json_or_trap(read.envelopes[0].data);
    FUZZ_CHECK(value.at("error").at("code") == "not_found");
    if (jaild::fuzz::valid_utf8(text)) FUZZ_CHECK(value.at("error").at("message").as_string() == text);
}

void check_data_event(std::string_view bytes) {
    const boost::json::value event = jaild::fuzz::parse_json_or_trap(data_event(OutputStream::stdout_stream, bytes));
    const boost::json::string& b64 = event.at("event").at("data").at("stdout").as_string();
    FUZZ_CHECK(jaild::fuzz::base64_decode(b64) == bytes);
    FUZZ_CHECK(base64_decode(b64) == std::string(bytes));
    // Arbitrary text: accepted only if every character is of a base64 alphabet (padding aside).
    if (const auto decoded = base64_decode(bytes)) {
        std::string_view body = bytes.substr(0, bytes.find('='));
        for (char c : body) FUZZ_CHECK(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("+/-_", c));
        FUZZ_CHECK(decoded->size() == body.size() * 3 / 4);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t piece = (data[0] & 0x7f) + 1;
    const std::size_t max = (data[0] & 0x80) ? 1 << 20 : 16;
    const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    check_decoder(bytes, max, piece);
    check_end_stream(bytes);
    check_data_event(bytes);
    return 0;
}
