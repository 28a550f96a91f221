// Connect's envelopes, how a streaming RPC frames its messages (connectrpc.com/docs/protocol, "Streaming
// RPC"): one flag byte, a 4-byte big-endian length, that many bytes of message (here JSON). Flag 0x01 says the
// message is compressed (the gateway never accepts compression), 0x02 marks the answer's last envelope, the
// end-of-stream message: {} or {"error": {"code", "message"}}. Pure; unit-tested in
// tests/unit/test_e2b_connect.cc and fuzzed by tests/fuzz/fuzz_connect_envelope.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/e2b/connect_codes.h"

namespace jaild::gateway::e2b {

inline constexpr std::uint8_t kFlagCompressed = 0x01;
inline constexpr std::uint8_t kFlagEndStream = 0x02;
inline constexpr std::size_t kEnvelopeHeaderBytes = 5;

struct Envelope {
    std::uint8_t flags = 0;
    std::string data;
};

enum class EnvelopeError {
    truncated,         // the bytes end inside an envelope
    too_large,         // the header announces more than the maximum
    compressed,        // flag 0x01: the client compressed the message
    unexpected_flags,  // a request envelope with a flag other than 0 (end-of-stream, reserved bits)
    no_message,        // a streaming request body without its one message
    extra_message,     // bytes after a streaming request's one message
};

// A sentence naming the problem, for the Connect error the client gets.
std::string describe(EnvelopeError error, std::size_t max_message_bytes);

// Reads envelopes from bytes that arrive in pieces. A header announcing more than `max_message_bytes` is an
// error as soon as its 5 bytes are in, before the message's bytes are.
class EnvelopeDecoder {
public:
    explicit EnvelopeDecoder(std::size_t max_message_bytes) : max_(max_message_bytes) {}
    void push(std::string_view bytes) { buffer_.append(bytes); }
    // The next whole envelope, nothing while it is incomplete, or the error (after which the decoder stays
    // failed: every later call gives the same error).
    std::variant<std::monostate, Envelope, EnvelopeError> next();
    // At the end of the bytes: whether they stopped inside an envelope (truncated).
    bool pending() const { return !buffer_.empty(); }

private:
    std::size_t max_;
    std::string buffer_;
    std::optional<EnvelopeError> failed_;
};

// A server-streaming RPC's request body: exactly one envelope, flags 0 (compression refused), at most
// `max_message_bytes`. The message's bytes, or why not.
std::variant<std::string, EnvelopeError> parse_stream_request(std::string_view body, std::size_t max_message_bytes);

std::string encode_envelope(std::uint8_t flags, std::string_view data);
// A message envelope (flags 0) around `json`.
std::string encode_message(std::string_view json);
// The end-of-stream envelope: {} on success, else {"error": {"code", "message"}}.
std::string encode_end_stream(const std::optional<ConnectError>& error = std::nullopt);

}  // namespace jaild::gateway::e2b
