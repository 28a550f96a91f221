#include "jaild/file_operations.h"

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "jaild/file_transfer.h"
#include "jaild/plan_from_request.h"
#include "jaild/replies.h"
#include "jaild/session_files.h"

namespace jaild::file_operations {

namespace {

// An Error when path is not one a request may name; "" (the workspace itself) only where `top_allowed`.
std::optional<v1::ServerMessage> check_path(const std::string& path, const char* field, bool top_allowed) {
    if (top_allowed && path.empty()) return std::nullopt;
    if (std::string error = check_relative_path(path); !error.empty())
        return error_reply(ErrorCode::invalid_argument, error, field);
    return std::nullopt;
}

// The session's workspace, or the Error that it could not be opened in `failed`.
unique_fd open_workspace(SessionStore& store, const Session& session, std::optional<v1::ServerMessage>& failed) {
    std::error_code ec;
    unique_fd workspace = store.open_workspace(session, ec);
    if (!workspace) failed = error_reply(ErrorCode::internal, "cannot open the session's workspace: " + ec.message());
    return workspace;
}

void fill_entry(const session_files::Entry& entry, v1::FileEntry& out) {
    out.set_path(entry.path);
    out.set_size(entry.size);
    out.set_type(entry.type);
    out.set_mtime_unix_ms(entry.mtime_ms);
    out.set_mode(entry.mode);
    out.set_symlink_target(entry.symlink_target);
}

v1::ServerMessage entries_reply(const std::vector<session_files::Entry>& entries) {
    v1::ServerMessage reply;
    reply.mutable_files();  // an empty directory is still a listing
    for (const session_files::Entry& entry : entries) fill_entry(entry, *reply.mutable_files()->add_files());
    return reply;
}

// The reply naming the entry at path. A parent that is not a directory means there is no such entry (as
// envd says it: the SDK's exists() is then false).
v1::ServerMessage entry_reply(int workspace, const std::string& path) {
    session_files::Entry entry;
    std::error_code ec = session_files::stat_entry(workspace, path, entry);
    if (ec == std::errc::not_a_directory) ec = std::make_error_code(std::errc::no_such_file_or_directory);
    if (ec) return file_transfer::path_error(path, ec);
    return entries_reply({entry});
}

std::string quoted(const std::string& path) { return "\"" + path + "\""; }

}  // namespace

v1::ServerMessage list(SessionStore& store, const Session& session, const v1::FileList& request) {
    if (auto refused = check_path(request.path(), "path", true)) return *refused;
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_workspace(store, session, failed);
    if (!workspace) return *failed;
    std::error_code ec;
    std::vector<session_files::Entry> entries =
        session_files::list_below(workspace.get(), request.path(), request.depth(), ec);
    if (ec == std::errc::not_a_directory)
        return error_reply(ErrorCode::invalid_argument, quoted(request.path()) + " is not a directory", "path");
    if (ec) return file_transfer::path_error(request.path(), ec);
    return entries_reply(entries);
}

v1::ServerMessage stat(SessionStore& store, const Session& session, const v1::FileStat& request) {
    if (auto refused = check_path(request.path(), "path", true)) return *refused;
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_workspace(store, session, failed);
    if (!workspace) return *failed;
    return entry_reply(workspace.get(), request.path());
}

v1::ServerMessage make_dir(SessionStore& store, Session& session, const v1::FileMakeDir& request) {
    const std::string& path = request.path();
    if (auto refused = check_path(path, "path", false)) return *refused;
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_workspace(store, session, failed);
    if (!workspace) return *failed;
    const std::error_code ec = session_files::make_dir(workspace.get(), path, session.live_uid, session.live_uid);
    store.refresh_usage(session);
    if (ec == std::errc::file_exists)
        return error_reply(ErrorCode::already_exists, "directory " + quoted(path) + " exists already", "path");
    if (ec == std::errc::not_a_directory)
        return error_reply(ErrorCode::invalid_argument,
                           quoted(path) + " or one of its parents exists and is not a directory", "path");
    if (ec) return file_transfer::path_error(path, ec);  // a full storage: QUOTA_EXCEEDED
    return entry_reply(workspace.get(), path);
}

v1::ServerMessage move(SessionStore& store, Session& session, const v1::FileMove& request) {
    if (auto refused = check_path(request.source(), "source", false)) return *refused;
    if (auto refused = check_path(request.destination(), "destination", false)) return *refused;
    const std::string& source = request.source();
    const std::string& destination = request.destination();
    // Refused before anything is made: the destination's missing parents would otherwise stay behind.
    if (destination == source || destination.starts_with(source + "/"))
        return error_reply(
            ErrorCode::invalid_argument,
            "moving " + quoted(source) + " to " + quoted(destination) + ": a directory cannot move into itself",
            "destination");
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_workspace(store, session, failed);
    if (!workspace) return *failed;
    // A move changes no usage: nothing to count again.
    const std::error_code ec =
        session_files::move(workspace.get(), source, destination, session.live_uid, session.live_uid);
    if (ec == std::errc::no_such_file_or_directory) return file_transfer::path_error(source, ec);
    if (ec == std::errc::no_space_on_device || ec.value() == EDQUOT) return file_transfer::path_error(destination, ec);
    if (ec) {
        const std::string why =
            ec == std::errc::invalid_argument ? "a directory cannot move into itself" : session_files::describe(ec);
        return error_reply(ErrorCode::invalid_argument,
                           "moving " + quoted(request.source()) + " to " + quoted(request.destination()) + ": " + why,
                           "destination");
    }
    return entry_reply(workspace.get(), request.destination());
}

v1::ServerMessage remove(SessionStore& store, Session& session, const v1::FileDelete& request) {
    const std::string& path = request.path();
    if (auto refused = check_path(path, "path", false)) return *refused;
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_workspace(store, session, failed);
    if (!workspace) return *failed;
    const std::error_code ec = session_files::remove(workspace.get(), path);
    store.refresh_usage(session);
    if (ec) return file_transfer::path_error(path, ec);
    v1::ServerMessage reply;
    reply.mutable_done();
    return reply;
}

}  // namespace jaild::file_operations
