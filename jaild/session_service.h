// The session and file API over a SessionStore: a request in, its one reply out. No socket and no event
// loop: the caller (connection.cc) takes the session's lock for a file request and streams chunked
// transfers itself (file_transfer.h).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "jaild.pb.h"
#include "jaild/sessions.h"

namespace jaild {

// A session's info as the protocol shows it; `ttl_s` is the idle TTL its expiry time comes from.
void fill_session_info(const Session& session, std::uint64_t quota_bytes, std::uint32_t ttl_s, v1::SessionInfo& out);

class SessionService {
public:
    // sandbox_root: the sandboxes' common root a session's cwd is checked in ("" checks only /workspace and
    // /tmp; SessionStore::check_cwd). max_reply_bytes: the most a whole-file FileGet reply may carry.
    SessionService(SessionStore& store, std::string sandbox_root, std::size_t max_reply_bytes)
        : store_(store), sandbox_root_(std::move(sandbox_root)), max_reply_bytes_(max_reply_bytes) {}

    // The session id a session or file request names ("" for create and list).
    static std::string session_id_of(const v1::ClientMessage& request);
    // A request on a session's files (FileList, FileGet, FilePut, FileDelete, FileStat, FileMakeDir, FileMove):
    // it needs the session's lock.
    static bool is_file_request(const v1::ClientMessage& request);

    // SessionCreate, SessionList, SessionGet, SessionDelete, SessionSetEnv, SessionSetCwd of `principal`.
    v1::ServerMessage session_request(const std::string& principal, const v1::ClientMessage& request);
    // A whole-message file request on `session`, whose lock the caller holds.
    v1::ServerMessage file_request(const v1::ClientMessage& request, Session& session);

    // The reply for a session id that names none of the caller's.
    static v1::ServerMessage no_session(const std::string& id);

private:
    v1::ServerMessage info_message(const Session& session) const;

    SessionStore& store_;
    std::string sandbox_root_;
    std::size_t max_reply_bytes_;
};

}  // namespace jaild
