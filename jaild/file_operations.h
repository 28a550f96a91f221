// The whole-message requests on a session's files other than put and get (docs/protocol.md, "Files"): list,
// stat, make a directory, move, delete. Each resolves its paths beneath the session's workspace through
// session_files (no `..`, no absolute path, no symlink followed) and runs on jaild's event loop while its caller
// holds the session's lock.
#pragma once

#include "jaild.pb.h"
#include "jaild/sessions.h"

namespace jaild::file_operations {

// FileList: a FileEntryList (paths relative to the workspace) or an Error.
v1::ServerMessage list(SessionStore& store, const Session& session, const v1::FileList& request);
// FileStat: a FileEntryList holding the one entry, or an Error (NOT_FOUND when there is none).
v1::ServerMessage stat(SessionStore& store, const Session& session, const v1::FileStat& request);
// FileMakeDir: a FileEntryList holding the new directory, or an Error (ALREADY_EXISTS for a directory there).
v1::ServerMessage make_dir(SessionStore& store, Session& session, const v1::FileMakeDir& request);
// FileMove: a FileEntryList holding the entry at its new path, or an Error.
v1::ServerMessage move(SessionStore& store, Session& session, const v1::FileMove& request);
// FileDelete: Done or an Error.
v1::ServerMessage remove(SessionStore& store, Session& session, const v1::FileDelete& request);

}  // namespace jaild::file_operations
