// How bytes become JSON text: valid UTF-8 (bad bytes as U+FFFD) or base64. Pure functions, unit-tested in
// tests/unit/test_gateway_codec.cc.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jaild::gateway {

enum class Encoding { utf8, base64 };

// Bytes that are not valid UTF-8 become U+FFFD, so the text is always valid JSON.
std::string sanitize_utf8(std::string_view bytes);
std::string base64_encode(std::string_view bytes);
// How output bytes appear in JSON under the requested encoding.
std::string encode_output(std::string_view bytes, Encoding encoding);
// Length of `bytes` without a trailing, not yet complete UTF-8 sequence (streamed output is cut anywhere;
// the tail waits for the next chunk instead of becoming U+FFFD).
std::size_t complete_utf8_prefix(std::string_view bytes);

}  // namespace jaild::gateway
