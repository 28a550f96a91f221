#include "common/node_id.h"

#include <algorithm>

namespace jaild {

namespace {

bool node_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

bool valid_node_id(std::string_view id) {
    return !id.empty() && id.size() <= kMaxNodeIdLength && std::ranges::all_of(id, node_char);
}

std::string node_id_from_hostname(std::string_view hostname) {
    std::string id(hostname.substr(0, hostname.find('.')));
    std::ranges::transform(id, id.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
    return valid_node_id(id) ? id : std::string();
}

std::optional<SessionIdParts> parse_session_id(std::string_view id) {
    if (id.size() < kSessionRandomLength) return std::nullopt;
    const std::string_view random = id.substr(0, kSessionRandomLength);
    if (!std::ranges::all_of(random, hex_digit)) return std::nullopt;
    if (id.size() == kSessionRandomLength) return SessionIdParts{random, {}};
    if (id[kSessionRandomLength] != '-') return std::nullopt;
    const std::string_view node = id.substr(kSessionRandomLength + 1);
    if (!valid_node_id(node)) return std::nullopt;
    return SessionIdParts{random, node};
}

std::string make_session_id(std::string_view random_hex, std::string_view node) {
    std::string id;
    id.reserve(random_hex.size() + 1 + node.size());
    id.append(random_hex).append(1, '-').append(node);
    return id;
}

}  // namespace jaild
