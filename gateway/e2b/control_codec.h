// E2B's control plane (the API at E2B_API_URL) as JSON: the request bodies of POST /v2/sandboxes, .../connect
// and .../timeout, the Sandbox, SandboxDetail and ListedSandbox answers, the paging of GET /v2/sandboxes, and
// the error body {"code": <HTTP status>, "message"} that the SDK reads (a 404 must carry "code": 404 for
// kill() to return false). Shapes from the pinned e2b 2.51.0's openapi types (docs/e2b.md). Pure; unit-tested
// in tests/unit/test_e2b_control.cc.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace jaild::gateway::e2b {

// The envd version the gateway reports: the SDK turns features on by it, and 0.5.7 turns on exactly what the
// gateway serves (octet-stream uploads, closeStdin; not file metadata, 0.6.2).
inline constexpr std::string_view kEnvdVersion = "0.5.7";
// The templates a sandbox may be created from; both are the same live session.
inline constexpr std::string_view kTemplates[] = {"base", "code-interpreter-v1"};
inline constexpr std::uint64_t kDefaultTimeoutS = 300;
inline constexpr std::uint64_t kMaxTimeoutS = 86'400;
inline constexpr std::size_t kMaxListLimit = 100;

struct E2bError {
    unsigned status = 400;
    std::string message;
};
// {"code": status, "message": "..."}
std::string error_body(const E2bError& error);

// POST /v2/sandboxes (NewSandboxV2). Options a container cannot honour (network rules, MCP, volumes, pausing
// on timeout, internet access) are refused with 400 naming them, rather than ignored.
struct NewSandbox {
    std::string template_id = "base";
    std::uint64_t timeout_s = kDefaultTimeoutS;
    std::map<std::string, std::string> metadata;
    std::map<std::string, std::string> env_vars;
};
std::variant<NewSandbox, E2bError> parse_new_sandbox(std::string_view body);

// A sandbox's template and metadata are kept by jaild as its session's labels: "e2b.template" and
// "e2b.meta.<key>" (jaild's limits on labels, less the prefix, are checked by parse_new_sandbox).
std::map<std::string, std::string> sandbox_labels(const NewSandbox& sandbox);

// POST /v2/sandboxes/{id}/connect ({} or {"timeout": s}: nullopt when absent) and POST /sandboxes/{id}/timeout
// ({"timeout": s}, required).
std::variant<std::optional<std::uint64_t>, E2bError> parse_connect(std::string_view body);
std::variant<std::uint64_t, E2bError> parse_set_timeout(std::string_view body);

// What the answers say of one sandbox.
struct SandboxView {
    std::string sandbox_id;
    std::string template_id = "base";
    std::map<std::string, std::string> metadata;
    std::int64_t started_unix_ms = 0;
    std::int64_t end_unix_ms = 0;  // the deadline
    std::string envd_access_token;
    std::string traffic_access_token;
    unsigned cpu_count = 1;
    std::uint64_t memory_mb = 0;
    std::uint64_t disk_mb = 0;
};
// 201 of create, 200 of connect (Sandbox).
boost::json::object sandbox_json(const SandboxView& view);
// The template and metadata a session's labels hold; other labels are not the SDK's business.
void read_sandbox_labels(const std::map<std::string, std::string>& labels, SandboxView& view);
// GET /sandboxes/{id} (SandboxDetail), and one element of GET /v2/sandboxes (ListedSandbox: no tokens).
boost::json::object sandbox_detail_json(const SandboxView& view, bool with_token);

// GET /v2/sandboxes's query: limit (1-100, default 100), nextToken (from X-Next-Token), metadata
// ("k=v&k2=v2", itself URL-encoded), state (running and/or paused; only running sandboxes exist here).
struct ListQuery {
    std::size_t limit = kMaxListLimit;
    std::optional<std::pair<std::int64_t, std::string>> after;  // nextToken: start and id of the last one seen
    std::map<std::string, std::string> metadata;
    bool running = true;  // false when the query asks for paused sandboxes only
};
std::variant<ListQuery, E2bError> parse_list_query(std::string_view target);

// One page: the sandboxes of `all` that match the query, ordered by start then id, after the nextToken's; `next`
// is the token of the page after it, "<started_unix_ms>.<id>" (empty on the last page). A sandbox gone since the
// token was given does not lose the caller its place.
struct Page {
    std::vector<SandboxView> items;
    std::string next;
};
Page page_sandboxes(std::vector<SandboxView> all, const ListQuery& query);

}  // namespace jaild::gateway::e2b
