#include "jaild/jailctl/jailctl_common.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "jaild/jailctl/terminal.h"

namespace jaild::jailctl {

void fail(int code, const std::string& message) {
    terminal::restore();
    std::fprintf(stderr, "jailctl: %s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(code);  // other threads may be blocked in read(0)
}

void die(const std::string& message) { fail(kJailctlError, message); }

void usage_error(const std::string& message) { fail(kUsageError, message + " (jailctl --help shows the usage)"); }

void write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // our own stdout is gone (e.g. `| head`): keep draining jaild
        done += static_cast<std::size_t>(n);
    }
}

void put_env(const std::vector<std::string>& pairs, google::protobuf::Map<std::string, std::string>* env) {
    for (const std::string& kv : pairs) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) usage_error("--env needs KEY=VALUE, got \"" + kv + "\"");
        (*env)[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
}

void connect(JaildClient& client, const std::string& socket_path) {
    const std::error_code ec = client.connect(socket_path);
    if (!ec) return;
    std::string message = "cannot connect to " + socket_path + ": " + ec.message();
    if (ec == std::errc::permission_denied)
        message +=
            " (jaild's socket admits root and the members of its group, server.socket_group in jaild.toml: "
            "add this user to that group, or run jailctl as root)";
    die(message);
}

// jaild answers a peer it does not allow with an Error and closes at once, so a send that fails (EPIPE) is
// followed by a read of that Error: its message says what to do, "Broken pipe" not.
void open_request(JaildClient& client, const std::string& socket_path, const v1::ClientMessage& request) {
    connect(client, socket_path);
    const std::error_code sent = client.send(request);
    if (!sent) return;
    v1::ServerMessage reply;
    if (!client.receive(reply) && reply.has_error()) die(reply.error().message());
    die("sending the request to " + socket_path + ": " + sent.message());
}

v1::ServerMessage request_reply(const std::string& socket_path, const v1::ClientMessage& request) {
    boost::asio::io_context io;
    JaildClient client(io.get_executor());
    open_request(client, socket_path, request);
    v1::ServerMessage reply;
    if (auto ec = client.receive(reply)) die("connection to jaild lost: " + ec.message());
    return reply;
}

v1::ServerMessage ask(const std::string& socket_path, const v1::ClientMessage& request) {
    v1::ServerMessage reply = request_reply(socket_path, request);
    if (reply.has_error()) die(reply.error().message());
    return reply;
}

std::string error_text(const v1::Error& error) {
    return error.message() + (error.field().empty() ? "" : " (field " + error.field() + ")");
}

int exit_code_of(const v1::Exit& exit) {
    using v1::Status;
    static const std::map<Status, const char*> kMessages = {
        {v1::STATUS_TIMEOUT, "time limit exceeded"},
        {v1::STATUS_MEMORY_LIMIT, "memory limit exceeded"},
        {v1::STATUS_OUTPUT_LIMIT, "output limit exceeded"},
        {v1::STATUS_INTERNAL_ERROR, "sandbox failure"},
        {v1::STATUS_CANCELLED, "cancelled"},
    };
    if (auto it = kMessages.find(exit.status()); it != kMessages.end())
        std::fprintf(stderr, "jailctl: %s: %s\n", it->second, exit.error().c_str());
    // The program could not be started (not found, not executable, bad --cwd): say why, as a shell would.
    if (exit.status() == v1::STATUS_RUNTIME_ERROR && exit.exit_code() == 127 && exit.signal() == 0 &&
        exit.error().rfind("cannot ", 0) == 0)
        std::fprintf(stderr, "jailctl: %s\n", exit.error().c_str());
    if (exit.status() == v1::STATUS_INTERNAL_ERROR) return kJailctlError;
    // main() mode: the result on stdout after what the program printed, the error and trace on stderr.
    if (!exit.result_json().empty()) write_all(1, exit.result_json() + "\n");
    if (exit.status() == v1::STATUS_COMPILE_ERROR) {
        std::fputs("jailctl: compilation failed\n", stderr);
        return 1;
    }
    if (exit.status() == v1::STATUS_RUNTIME_ERROR && !exit.trace().empty())
        std::fprintf(stderr, "jailctl: %s\n", exit.error().c_str());
    else if (exit.status() == v1::STATUS_RUNTIME_ERROR && exit.exit_code() == 1 && !exit.error().empty() &&
             exit.error().rfind("exited with", 0) != 0)
        std::fprintf(stderr, "jailctl: %s\n", exit.error().c_str());
    return exit.exit_code() & 0xff;
}

}  // namespace jaild::jailctl
