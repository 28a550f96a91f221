#include "jaild/jailctl/jailctl_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace jaild::jailctl {

namespace {

constexpr std::size_t kChunkBytes = 256 * 1024;  // under jaild's 1 MiB per FileChunk

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// jaild's next message; "" or what went wrong.
std::string next(JaildClient& client, v1::ServerMessage& reply) {
    reply.Clear();
    if (auto ec = client.receive(reply)) return "connection to jaild lost: " + ec.message();
    if (reply.has_error()) return reply.error().message();
    return {};
}

// Sends the request. jaild answers a peer it does not allow with an Error and closes at once: a failed send is
// followed by a read of that Error, whose message says what to do ("Broken pipe" would not).
std::string send_request(JaildClient& client, const v1::ClientMessage& request) {
    const std::error_code ec = client.send(request);
    if (!ec) return {};
    v1::ServerMessage reply;
    if (std::string refused = next(client, reply); !refused.empty() && reply.has_error()) return refused;
    return "sending the request: " + ec.message();
}

// Announces the size when it is known (a regular file): jaild refuses a file past the quota before it is sent.
void announce_size(int fd, v1::FilePut& put) {
    struct stat st {};
    const off_t at = ::lseek(fd, 0, SEEK_CUR);
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && at >= 0 && at <= st.st_size)
        put.set_size(static_cast<std::uint64_t>(st.st_size - at));
}

// The file's content as FileChunk messages, the last with eof. Stops early when jaild has answered already
// (it refused the upload) or closed the connection: the caller reads why.
std::string send_chunks(JaildClient& client, int fd, const std::string& name) {
    std::string buffer(kChunkBytes, '\0');
    v1::ClientMessage message;
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_text("reading " + name);  // closing the connection drops the upload
        boost::system::error_code ignored;
        if (client.socket().available(ignored) > 0) return {};
        message.mutable_file_chunk()->set_data(buffer.data(), static_cast<std::size_t>(n));
        message.mutable_file_chunk()->set_eof(n == 0);
        if (client.send(message) || n == 0) return {};
    }
}

bool write_all(int fd, const std::string& data) {
    for (std::size_t done = 0; done < data.size();) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::string put_file(JaildClient& client, const std::string& session_id, const std::string& path,
                     const std::string& local) {
    const bool from_stdin = local.empty() || local == "-";
    unique_fd file(from_stdin ? -1 : ::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    if (!from_stdin && !file) return errno_text("cannot read " + local);
    const int fd = from_stdin ? 0 : file.get();
    v1::ClientMessage request;
    v1::FilePut& put = *request.mutable_file_put();
    put.set_session_id(session_id);
    put.set_path(path);
    put.set_chunked(true);
    announce_size(fd, put);
    if (std::string error = send_request(client, request); !error.empty()) return error;
    v1::ServerMessage reply;
    if (std::string error = next(client, reply); !error.empty()) return error;
    if (!reply.has_ready()) return "jaild answered with an unexpected message";
    if (std::string error = send_chunks(client, fd, from_stdin ? "stdin" : local); !error.empty()) return error;
    if (std::string error = next(client, reply); !error.empty()) return error;
    return reply.has_done() ? std::string() : "jaild answered with an unexpected message";
}

std::string get_file(JaildClient& client, const std::string& session_id, const std::string& path, int out_fd) {
    v1::ClientMessage request;
    request.mutable_file_get()->set_session_id(session_id);
    request.mutable_file_get()->set_path(path);
    request.mutable_file_get()->set_chunked(true);
    if (std::string error = send_request(client, request); !error.empty()) return error;
    v1::ServerMessage reply;
    if (std::string error = next(client, reply); !error.empty()) return error;
    if (!reply.has_file_header()) return "jaild answered with an unexpected message";
    const std::uint64_t size = reply.file_header().size();
    std::uint64_t received = 0;
    for (bool eof = false; !eof;) {
        if (std::string error = next(client, reply); !error.empty()) return error;
        if (!reply.has_file_chunk()) return "jaild answered with an unexpected message";
        if (!write_all(out_fd, reply.file_chunk().data())) return errno_text("writing the file");
        received += reply.file_chunk().data().size();
        eof = reply.file_chunk().eof();
    }
    if (received != size)
        return "the download ended after " + std::to_string(received) + " of " + std::to_string(size) + " bytes";
    return {};
}

}  // namespace jaild::jailctl
