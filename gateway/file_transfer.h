// A session's files through HTTP, streamed both ways (docs/api.md, "Files"): an upload's body goes to jaild a
// piece at a time as it arrives, a download's chunks go to the client as jaild sends them, so a file of any
// size within the session's quota passes with one piece in the gateway's memory. Runs on the HTTP connection's
// strand, after the handler has checked the URL.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "gateway/routes.h"

namespace jaild::gateway {

// PUT /sessions/{id}/files/{path}: 201 {"path", "size"} once the whole body is in place, or jaild's refusal
// (404, 400, 507 past the quota), 408 when the body stalls; nothing is left of an upload that does not end.
boost::asio::awaitable<void> forward_upload(Exchange& exchange, const std::string& session_id, const std::string& path);
// GET /sessions/{id}/files/{path}: 200 with the file's bytes and its Content-Length, or jaild's refusal.
boost::asio::awaitable<void> forward_download(Exchange& exchange, const std::string& session_id,
                                              const std::string& path);

}  // namespace jaild::gateway
