// HTTP request bodies to protobuf: JSON requests type-checked field by field and mapped to the ClientMessage
// sent to jaild, and jaild's field names back in the request's vocabulary. Pure functions: no sockets, no
// clocks, no logging, so every mapping and every validation message is unit-tested
// (tests/unit/test_gateway_codec.cc). docs/api.md describes the requests.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/text_encoding.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// A 400 answer: {"error": message, "field": field} (field null when empty).
struct FieldError {
    std::string field;
    std::string message;
};

enum class RequestKind { run, execute, languages, session };

// A validated request, ready to send to jaild, plus what the gateway needs to shape the answer.
struct ParsedRequest {
    v1::ClientMessage message;
    RequestKind kind = RequestKind::run;
    bool stream = false;
    Encoding encoding = Encoding::utf8;
    bool script = false;  // seed 004's {"script": ...}: its own timeout message
    std::string user_id;  // seed 002: run in this user's named session, answer with workspace_files
    // Limits (their proto names) that the gateway chose, not the client: the script dialect's defaults.
    std::vector<std::string> chosen_limits;
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

// jaild's field name (limits.cpu_ms, argv...) in the HTTP request's vocabulary (time, command...).
std::string http_field_name(std::string_view proto_field, RequestKind kind);

// A caller-supplied X-Request-Id is kept when it is 1..128 printable ASCII characters.
bool valid_request_id(std::string_view id);

}  // namespace jaild::gateway
