// JSON ⇄ protobuf for sessions and their files (docs/api.md, "Sessions"). Pure functions like request_parsing:
// no sockets, no clocks, unit-tested in tests/unit/test_session_codec.cc.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/request_parsing.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// A URL path segment (or the rest of a path) percent-decoded once; nullopt for a bad escape or a NUL byte.
// Nothing else is touched: "..", "//" and a leading "/" pass through for jaild to judge.
std::optional<std::string> percent_decode(std::string_view text);
// A URL parameter as the request field `field` (session_id, path), which `what` describes ("the session id"):
// percent-decoded once, or a FieldError when an escape is bad or the result holds a NUL or is not UTF-8
// (jaild's protocol carries names as UTF-8 text).
std::variant<std::string, FieldError> decode_url_param(std::string_view text, std::string_view field,
                                                       std::string_view what);

// Unknown fields are refused, as in every other body: the first one found, named.
std::optional<FieldError> only_fields(const boost::json::object& body, std::initializer_list<std::string_view> known);

// POST /sessions: an empty body or {"env": {...}, "name": "...", "live": true, "timeout_ms": N}; timeout_ms only
// with live.
std::variant<v1::SessionCreate, FieldError> parse_session_create(std::string_view body);
// POST /sessions/{id}/env: {"env": {"K": "v", "GONE": null}}; a null value removes the key.
std::variant<v1::SessionSetEnv, FieldError> parse_session_env(std::string_view body);
// POST /sessions/{id}/cwd: {"cwd": "/tmp"}.
std::variant<v1::SessionSetCwd, FieldError> parse_session_cwd(std::string_view body);

// The answers.
boost::json::object session_info_object(const v1::SessionInfo& info);
std::string session_info_body(const v1::SessionInfo& info);
std::string session_list_body(const v1::SessionInfoList& list);
// A listing's entries: {"path", "size", "type", "mtime_ms"}; a path that is not UTF-8 is shown with U+FFFD for
// each bad byte and given exactly, base64-encoded, in "path_base64".
std::string file_list_body(const v1::FileEntryList& list);
// Whether jaild's one answer is of the `expected` kind. An answer with no kind at all to a listing request
// (files, sessions, processes, contexts) is taken as the empty list and made one: a reply that leaves an empty list
// unset has nothing on the wire.
bool answer_is(v1::ServerMessage& reply, v1::ServerMessage::KindCase expected);
// Seed 002's workspace_files: the paths of the listing (U+FFFD for the bytes of a path that are not UTF-8).
boost::json::array workspace_paths(const v1::FileEntryList& list);
std::string deleted_body(std::string_view key, std::string_view value);  // {"deleted": true, key: value}
std::string put_body(std::string_view path, std::size_t size);           // {"path": p, "size": n}

}  // namespace jaild::gateway
