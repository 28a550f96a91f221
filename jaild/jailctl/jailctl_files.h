// jailctl's file transfers (`sessions put` and `sessions get`): the file goes to jaild, or comes from it, in
// chunks (docs/protocol.md, "Files"), so a file of any size within the session's quota passes through a
// bounded buffer. Blocking; each returns "" on success, else what to tell the user.
#pragma once

#include <string>

#include "common/jaild_client.h"

namespace jaild::jailctl {

// Uploads `local` (a file, or stdin when "" or "-") to `path` in the session.
std::string put_file(JaildClient& client, const std::string& session_id, const std::string& path,
                     const std::string& local);
// Writes the session's file at `path` to out_fd.
std::string get_file(JaildClient& client, const std::string& session_id, const std::string& path, int out_fd);

}  // namespace jaild::jailctl
