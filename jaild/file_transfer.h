// A session's files in and out through the protocol (docs/protocol.md, "Files"): an upload is written as it
// arrives into a file that takes its name only once complete (session_files::Upload), a download is read and
// sent a chunk at a time, as fast as the client takes the chunks, so a file of any size within the quota
// passes with bounded memory. The whole-file put and get of small files share the quota check and the errors.
// Every function runs on jaild's event loop while its caller holds the session's lock.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

#include "jaild.pb.h"
#include "jaild/sessions.h"

namespace jaild::file_transfer {

inline constexpr std::size_t send_chunk_bytes = 128 * 1024;  // the most jaild puts in one FileChunk
inline constexpr std::size_t max_chunk_bytes = 1024 * 1024;  // the most it takes in one

// The connection's side of a transfer.
struct Channel {
    // Queues a message for the client; waits while the connection's queue is full.
    std::function<boost::asio::awaitable<void>(const v1::ServerMessage&)> send;
    // The client's next message; an error when it left, sent garbage or sent nothing for the idle time.
    std::function<boost::asio::awaitable<std::error_code>(v1::ClientMessage&)> receive;
    // The client stopped reading (its connection is dropped): a download stops.
    std::function<bool()> gone;
};

// A chunked FilePut: Ready, then the FileChunk messages into the file, then Done; or an Error, and nothing of
// the upload is left. disk_kb: the principal's sessions' total (PrincipalQuota::disk_kb; 0: none).
boost::asio::awaitable<void> upload(Channel& channel, SessionStore& store, Session& session, const v1::FilePut& put,
                                    std::uint64_t disk_kb);
// A chunked FileGet: FileHeader{size}, then FileChunk messages up to the one with eof; or an Error.
boost::asio::awaitable<void> download(Channel& channel, SessionStore& store, Session& session, const v1::FileGet& get);

// A FilePut with its content in the request: Done or an Error.
v1::ServerMessage put_whole(SessionStore& store, Session& session, const v1::FilePut& put, std::uint64_t disk_kb);
// A FileGet answered with one FileContent of at most max_bytes, or an Error.
v1::ServerMessage get_whole(SessionStore& store, Session& session, const v1::FileGet& get, std::uint64_t max_bytes);

// The Error for a file operation on path that failed with ec: NOT_FOUND when there is no such file, else
// INVALID_ARGUMENT naming the path and what is wrong with it.
v1::ServerMessage path_error(const std::string& path, const std::error_code& ec);

}  // namespace jaild::file_transfer
