#include "jaild/file_transfer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "jaild/plan_from_request.h"
#include "jaild/replies.h"
#include "jaild/session_files.h"

namespace jaild::file_transfer {

namespace asio = boost::asio;

namespace {

v1::ServerMessage done_reply() {
    v1::ServerMessage reply;
    reply.mutable_done();
    return reply;
}

// What the session holds without the regular file at path (which an upload there replaces).
std::uint64_t usage_without(const Session& session, int workspace, const std::string& path) {
    std::uint64_t replaced = 0;
    std::error_code ec;
    if (unique_fd old = session_files::open_beneath(workspace, path, O_PATH | O_NOFOLLOW, 0, ec)) {
        struct stat st {};
        if (::fstat(old.get(), &st) == 0 && S_ISREG(st.st_mode)) replaced = static_cast<std::uint64_t>(st.st_size);
    }
    return session.meta.disk_used - std::min(session.meta.disk_used, replaced);
}

// What one session may hold during a file operation (SessionStore::room_bytes), and how a refusal names it.
struct Room {
    std::uint64_t bytes = 0;
    std::string what;
};

Room room_of(const SessionStore& store, const Session& session, std::uint64_t disk_kb) {
    const std::uint64_t bytes = store.room_bytes(session, disk_kb);
    if (bytes >= store.quota_bytes()) return {bytes, "the session's disk quota of " + std::to_string(bytes) + " bytes"};
    return {bytes, "your sessions' total disk quota of " + std::to_string(disk_kb * 1024) + " bytes (" +
                       std::to_string(bytes) + " of them for this session)"};
}

// Null when `after` bytes fit in the room.
std::optional<v1::ServerMessage> over_quota(const Room& room, std::uint64_t after) {
    if (after <= room.bytes) return std::nullopt;
    return error_reply(ErrorCode::quota_exceeded,
                       room.what + " would be exceeded (" + std::to_string(after) + " bytes)", "content");
}

// The path checked and the workspace opened; an Error in `failed` otherwise.
unique_fd open_for(SessionStore& store, const Session& session, const std::string& path,
                   std::optional<v1::ServerMessage>& failed) {
    if (std::string error = check_relative_path(path); !error.empty()) {
        failed = error_reply(ErrorCode::invalid_argument, error, "path");
        return {};
    }
    std::error_code ec;
    unique_fd workspace = store.open_workspace(session, ec);
    if (!workspace) failed = error_reply(ErrorCode::internal, "cannot open the session's workspace: " + ec.message());
    return workspace;
}

// The chunks of an upload into `file` until the one with eof; the Error that ends it early, if any.
asio::awaitable<std::optional<v1::ServerMessage>> receive_chunks(Channel& channel, const Room& room,
                                                                 const v1::FilePut& put, std::uint64_t base,
                                                                 session_files::Upload& file) {
    v1::ClientMessage message;
    for (bool eof = false; !eof;) {
        message.Clear();
        if (std::error_code ec = co_await channel.receive(message))
            co_return error_reply(ErrorCode::protocol, "the upload ended before its last chunk: " + ec.message());
        if (!message.has_file_chunk())
            co_return error_reply(ErrorCode::protocol, "an upload sends FileChunk messages until the one with eof");
        const v1::FileChunk& chunk = message.file_chunk();
        if (chunk.data().size() > max_chunk_bytes)
            co_return error_reply(ErrorCode::protocol,
                                  "a FileChunk holds at most " + std::to_string(max_chunk_bytes) + " bytes");
        const std::uint64_t total = file.written() + chunk.data().size();
        if (put.has_size() && total > put.size())
            co_return error_reply(
                ErrorCode::invalid_argument,
                "the upload sent more than its announced size of " + std::to_string(put.size()) + " bytes", "size");
        if (auto refused = over_quota(room, base + total)) co_return refused;
        if (std::error_code ec = file.write(chunk.data())) {
            // A live session's storage is a file system of its quota's size: full, it is the quota.
            if (ec == std::errc::no_space_on_device)
                co_return error_reply(ErrorCode::quota_exceeded,
                                      room.what + " is full (" + std::to_string(base + total) + " bytes)", "content");
            co_return error_reply(ErrorCode::internal, "writing \"" + put.path() + "\" failed: " + ec.message());
        }
        eof = chunk.eof();
    }
    if (put.has_size() && file.written() != put.size())
        co_return error_reply(ErrorCode::invalid_argument,
                              "the upload ended after " + std::to_string(file.written()) + " of its announced " +
                                  std::to_string(put.size()) + " bytes",
                              "size");
    co_return std::nullopt;
}

asio::awaitable<v1::ServerMessage> receive_upload(Channel& channel, SessionStore& store, Session& session,
                                                  const v1::FilePut& put, std::uint64_t disk_kb) {
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_for(store, session, put.path(), failed);
    if (!workspace) co_return *failed;
    const std::uint64_t base = usage_without(session, workspace.get(), put.path());
    const Room room = room_of(store, session, disk_kb);
    // An announced size past the quota is refused before the client sends a byte of it.
    if (put.has_size()) {
        if (auto refused = over_quota(room, base + put.size())) co_return *refused;
    }
    session_files::Upload file;
    if (std::error_code ec = file.open(workspace.get(), put.path(), session.live_uid, session.live_uid))
        co_return path_error(put.path(), ec);
    v1::ServerMessage ready;
    ready.mutable_ready();
    co_await channel.send(ready);
    if (auto ended = co_await receive_chunks(channel, room, put, base, file)) co_return *ended;
    if (std::error_code ec = file.commit()) co_return path_error(put.path(), ec);
    spdlog::info("session {}: received \"{}\", {} bytes", session.meta.id, put.path(), file.written());
    co_return done_reply();
}

// Reads exactly data.size() bytes at the file's offset; false at an early end of the file or an error.
bool read_exactly(int fd, std::string& data, std::error_code& ec) {
    for (std::size_t done = 0; done < data.size();) {
        const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ec = {errno, std::system_category()};
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

v1::ServerMessage path_error(const std::string& path, const std::error_code& ec) {
    if (ec == std::errc::no_such_file_or_directory)
        return error_reply(ErrorCode::not_found, "no file \"" + path + "\" in the session", "path");
    if (ec == std::errc::no_space_on_device || ec.value() == EDQUOT)
        return error_reply(ErrorCode::quota_exceeded, "\"" + path + "\": the session's disk quota is full", "path");
    return error_reply(ErrorCode::invalid_argument, "\"" + path + "\": " + session_files::describe(ec), "path");
}

asio::awaitable<void> upload(Channel& channel, SessionStore& store, Session& session, const v1::FilePut& put,
                             std::uint64_t disk_kb) {
    v1::ServerMessage reply = co_await receive_upload(channel, store, session, put, disk_kb);
    store.refresh_usage(session);
    co_await channel.send(reply);
}

asio::awaitable<void> download(Channel& channel, SessionStore& store, Session& session, const v1::FileGet& get) {
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_for(store, session, get.path(), failed);
    std::error_code ec;
    std::uint64_t size = 0;
    unique_fd file = workspace ? session_files::open_regular(workspace.get(), get.path(), size, ec) : unique_fd();
    if (workspace && !file) failed = path_error(get.path(), ec);
    if (failed) {
        co_await channel.send(*failed);
        co_return;
    }
    v1::ServerMessage message;
    message.mutable_file_header()->set_size(size);
    co_await channel.send(message);
    // The lock keeps runs and uploads away from the file, so it keeps its size; a chunk that comes short says
    // something else changed it, and the client learns it was cut.
    for (std::uint64_t left = size;;) {
        if (channel.gone()) co_return;
        v1::FileChunk& chunk = *message.mutable_file_chunk();
        std::string& data = *chunk.mutable_data();
        data.resize(static_cast<std::size_t>(std::min<std::uint64_t>(left, send_chunk_bytes)));
        if (!read_exactly(file.get(), data, ec)) {
            const std::string why = ec ? ec.message() : "the file shrank while it was read";
            v1::ServerMessage cut = error_reply(ErrorCode::internal, "reading \"" + get.path() + "\": " + why);
            co_await channel.send(cut);
            co_return;
        }
        left -= data.size();
        chunk.set_eof(left == 0);
        co_await channel.send(message);
        if (left == 0) co_return;
    }
}

v1::ServerMessage put_whole(SessionStore& store, Session& session, const v1::FilePut& put, std::uint64_t disk_kb) {
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_for(store, session, put.path(), failed);
    if (!workspace) return *failed;
    if (auto refused = over_quota(room_of(store, session, disk_kb),
                                  usage_without(session, workspace.get(), put.path()) + put.content().size()))
        return *refused;
    const std::error_code ec =
        session_files::write_file(workspace.get(), put.path(), put.content(), session.live_uid, session.live_uid);
    store.refresh_usage(session);
    if (ec == std::errc::no_space_on_device)  // a live session's storage, of its quota's size, is full
        return error_reply(ErrorCode::quota_exceeded, "the session's storage is full", "content");
    return ec ? path_error(put.path(), ec) : done_reply();
}

v1::ServerMessage get_whole(SessionStore& store, Session& session, const v1::FileGet& get, std::uint64_t max_bytes) {
    std::optional<v1::ServerMessage> failed;
    unique_fd workspace = open_for(store, session, get.path(), failed);
    if (!workspace) return *failed;
    v1::ServerMessage reply;
    const std::error_code ec =
        session_files::read_file(workspace.get(), get.path(), max_bytes, *reply.mutable_file()->mutable_content());
    return ec ? path_error(get.path(), ec) : reply;
}

}  // namespace jaild::file_transfer
