// A node's name in a cluster (`[node] id`, docs/scale-out.md) and the session ids that carry it:
// `<32 lowercase hex digits>-<node id>`, so that a balancer finds a session's node from its id alone. An id
// made before nodes had names is the 32 digits alone.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace jaild {

inline constexpr std::size_t kMaxNodeIdLength = 32;
inline constexpr std::size_t kSessionRandomLength = 32;  // hex digits: 128 random bits

// 1 to 32 of a-z, 0-9 and '-'.
bool valid_node_id(std::string_view id);

// The node id a host name gives when [node] id is not set: lowercased, up to its first dot. Empty when that is
// not a valid node id (the caller then asks for [node] id).
std::string node_id_from_hostname(std::string_view hostname);

struct SessionIdParts {
    std::string_view random;  // the 32 hex digits
    std::string_view node;    // empty: an id without a node
};

// The parts of a session id, or nothing when it is not one.
std::optional<SessionIdParts> parse_session_id(std::string_view id);

// A new session's id: `random_hex` (32 lowercase hex digits) and the node's id (valid_node_id).
std::string make_session_id(std::string_view random_hex, std::string_view node);

}  // namespace jaild
