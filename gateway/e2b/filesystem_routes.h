// envd's filesystem.Filesystem service and its REST /files on the gateway (docs/e2b.md, "Files"): the paths a
// request names are mapped onto the live session's workspace (e2b/filesystem_codec.h) and become jaild's file
// requests. Unary RPCs answer JSON (errors: a non-200 status and {"code": "<name>", "message"}); WatchDir and the
// watcher RPCs answer unimplemented. GET /files streams the file's bytes as jaild sends them; POST /files
// passes a multipart or octet-stream body to jaild a piece at a time as it arrives. REST errors are envd's
// {"code": <status>, "message"}. Called by handle_sandbox_call once the sandbox's token is checked.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "gateway/routes.h"

namespace jaild::gateway::e2b {

// POST /filesystem.Filesystem/<method>.
boost::asio::awaitable<void> filesystem_call(Exchange& exchange, const std::string& session_id,
                                             std::string_view method);
// GET /files?path=&username=.
boost::asio::awaitable<void> files_download(Exchange& exchange, const std::string& session_id);
// POST /files[?path=][&username=], multipart/form-data or application/octet-stream.
boost::asio::awaitable<void> files_upload(Exchange& exchange, const std::string& session_id);

}  // namespace jaild::gateway::e2b
