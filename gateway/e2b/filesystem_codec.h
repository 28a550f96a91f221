// envd's filesystem.Filesystem requests and answers, and the sandbox paths they name, mapped onto jaild's file
// requests on a live session's workspace. The sandbox's user `user` has its home, /home/user, on the workspace
// (also at /workspace); a relative path resolves against the user's home (root's is /root, which is not the
// workspace). jaild's file requests reach the workspace only: any other path (/tmp included, which only the
// sandbox's commands see) is refused as permission_denied naming what is reachable. Pure; unit-tested in
// tests/unit/test_e2b_files.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/e2b/connect_codes.h"
#include "gateway/e2b/control_codec.h"
#include "gateway/e2b/entry_info.h"
#include "gateway/e2b/process_codec.h"
#include "jaild.pb.h"

namespace jaild::gateway::e2b {

inline constexpr std::string_view kUserHome = "/home/user";

// A sandbox path on the workspace.
struct WorkspacePath {
    std::string relative;  // beneath the workspace, as jaild's file requests name it; "" is the workspace itself
    std::string top;       // how the request named the workspace: "/home/user" or "/workspace"
    // The absolute path answers give for an entry `relative` to the workspace.
    std::string shown(std::string_view entry) const;
};

enum class PathUse { read, write };

// `path` (absolute, relative to the user's home, or ~/...) normalised and mapped onto the workspace; an
// invalid_argument for an empty or malformed path, permission_denied for one outside the workspace.
std::variant<WorkspacePath, ConnectError> workspace_path(std::string_view path, EnvdUser user, PathUse use);

// Stat, MakeDir, Remove and ListDir: {"path": ..., "depth": N (ListDir)}.
struct PathRequest {
    std::string path;
    std::uint32_t depth = 0;
};
std::variant<PathRequest, ConnectError> parse_path_request(std::string_view body);
// Move: {"source": ..., "destination": ...}.
struct MoveRequest {
    std::string source;
    std::string destination;
};
std::variant<MoveRequest, ConnectError> parse_move(std::string_view body);

// ListDir's depth for jaild's FileList: envd lists one level for 0.
std::uint32_t list_depth(std::uint32_t depth);

// A jaild FileEntry as envd's EntryInfo, its path shown under `where`'s top. Owner and group are "user": every
// file of the workspace belongs to the sandbox's one uid.
EntryInfo entry_info(const v1::FileEntry& entry, const WorkspacePath& where);
// {"entry": EntryInfo} of Stat, MakeDir and Move (the first entry of the list).
std::string entry_answer(const v1::FileEntryList& entries, const WorkspacePath& where);
// {"entries": [EntryInfo...]} of ListDir; fifos, sockets and devices are left out, as the SDK skips them.
std::string list_answer(const v1::FileEntryList& entries, const WorkspacePath& where);

// GET and POST /files's query: path and username, percent-decoded ('+' is a space, as envd's Go reads it).
struct FilesQuery {
    std::optional<std::string> path;
    EnvdUser user = EnvdUser::user;
};
// A bad escape is a 400; a username other than user or root a 401 ("invalid username: '<name>'").
std::variant<FilesQuery, E2bError> parse_files_query(std::string_view target);

// The REST answer to an upload: [{"name", "type": "file", "path"}] for each file written.
std::string upload_answer(const std::vector<WorkspacePath>& written);
// The HTTP status of a REST /files error: 404, 400 (a directory, a bad path), 403, 507 (the quota), 409, 500.
unsigned rest_status(ConnectCode code, bool quota);
// The status of jaild's Error on a REST /files call.
unsigned rest_status(const v1::Error& error);

}  // namespace jaild::gateway::e2b
