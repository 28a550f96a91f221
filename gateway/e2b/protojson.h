// What reading protojson requests takes beyond plain JSON: a field under its lowerCamelCase JSON name or its
// proto name (the JS SDK sends "exitCode", a Python client may send "exit_code"), and bytes in base64 of either
// alphabet, padded or not, as protobuf-es and protojson accept them. Pure; unit-tested in
// tests/unit/test_e2b_connect.cc.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/e2b/connect_codes.h"

namespace jaild::gateway::e2b {

// The value of `json_name` in `object`, else of `proto_name`; null when neither is there.
const boost::json::value* find_field(const boost::json::object& object, std::string_view json_name,
                                     std::string_view proto_name);

// An RPC's request body as a JSON object, or the invalid_argument error that says why it is not one.
std::variant<boost::json::object, ConnectError> message_object(std::string_view body);
// ConnectError{invalid_argument, message}.
ConnectError invalid(std::string message);

// Standard or URL-safe base64, with or without '=' padding; nothing when the text is not base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace jaild::gateway::e2b
