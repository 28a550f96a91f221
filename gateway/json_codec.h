// JSON ⇄ protobuf for the HTTP API. Pure functions: no sockets, no clocks, no logging, so every mapping and
// every validation message is unit-tested (tests/unit/test_json_codec.cc). docs/api.md describes the result.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "jaild.pb.h"

namespace jaild::gateway {

// A 400 answer: {"error": message, "field": field} (field null when empty).
struct FieldError {
    std::string field;
    std::string message;
};

enum class Encoding { utf8, base64 };
enum class RequestKind { run, execute, languages, session };

// A validated request, ready to send to jaild, plus what the gateway needs to shape the answer.
struct ParsedRequest {
    v1::ClientMessage message;
    RequestKind kind = RequestKind::run;
    bool stream = false;
    Encoding encoding = Encoding::utf8;
    bool script = false;  // seed 004's {"script": ...}: its own timeout message
    std::string user_id;  // seed 002: run in this user's named session, answer with workspace_files
};

using ParseResult = std::variant<ParsedRequest, FieldError>;

// POST /run and POST /execute bodies. Every field is type-checked and unknown fields are refused. A /run body
// with "user_id" is seed 002's {"user_id", "code", "data"}: Python in result-variable mode (an execute request)
// in that user's named session.
ParseResult parse_run(std::string_view body);
ParseResult parse_execute(std::string_view body, std::size_t max_script_chars);

// Seed 002's user_id: 1..128 printable ASCII characters (what jaild accepts as a session name).
bool valid_user_id(std::string_view id);

// The body as a JSON object, or the 400 saying why it is not one.
std::variant<boost::json::object, FieldError> parse_object(std::string_view body);

// True when a Python script defines main() at top level (a line starting `def main(`).
bool has_top_level_main(std::string_view script);

// Bytes that are not valid UTF-8 become U+FFFD, so the text is always valid JSON.
std::string sanitize_utf8(std::string_view bytes);
std::string base64_encode(std::string_view bytes);
// How output bytes appear in JSON under the requested encoding.
std::string encode_output(std::string_view bytes, Encoding encoding);
// Length of `bytes` without a trailing, not yet complete UTF-8 sequence (streamed output is cut anywhere;
// the tail waits for the next chunk instead of becoming U+FFFD).
std::size_t complete_utf8_prefix(std::string_view bytes);

// The result object of a finished run (every field present every time, see docs/api.md).
// `request` gives the encoding and, for a script, the limits its timeout message names.
boost::json::object result_object(const v1::Exit& exit, std::string_view out, std::string_view err,
                                  const ParsedRequest& request);
// The result object as JSON text, with `raw_result` (jaild's result_json, the runner's own serialization)
// spliced in verbatim when it is valid: Python's 2.0 stays 2.0 instead of Boost.JSON's 2E0.
std::string serialize_result(boost::json::object& result, std::string_view raw_result);
// The HTTP status of a finished run's answer. 200 whatever the program did, except in the `script` (main())
// dialect, whose services (seeds 001, 004) answered 400 for a run that did not return from main() and 500 for
// their own failures; never 408, which clients resend on a kept-alive connection.
unsigned result_http_status(const boost::json::object& result, bool script);
// A result for a run whose end jaild never reported (jaild died or broke the protocol mid-run).
boost::json::object internal_error_result(std::string_view error, std::string_view out, std::string_view err,
                                          Encoding encoding);
// One NDJSON line (without the newline) for an Output event whose data is already encoded.
std::string output_line(v1::Stream stream, std::string_view encoded_data);

// Error text of a timed-out seed-004 script, word for word what that service said.
std::string script_timeout_message(std::uint64_t limit_ms);

// {"error": message, "field": field-or-null} serialized.
std::string error_body(std::string_view message, std::string_view field = {});

// How a jaild Error becomes an HTTP answer.
struct HttpError {
    unsigned status = 502;
    std::string body;
    bool retry_after = false;  // 429/503: tell the client to come back in a second
};
HttpError map_jaild_error(const v1::Error& error, RequestKind kind);
// jaild's field name (limits.cpu_ms, argv...) in the HTTP request's vocabulary (time, command...).
std::string http_field_name(std::string_view proto_field, RequestKind kind);

// A caller-supplied X-Request-Id is kept when it is 1..128 printable ASCII characters.
bool valid_request_id(std::string_view id);

}  // namespace jaild::gateway
