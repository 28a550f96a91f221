// What every jailctl command shares: its exit codes, how it ends with a message, and its requests to jaild
// (one request and one answer, or a request whose answer is a stream the caller reads).
#pragma once

#include <string>
#include <vector>

#include "common/jaild_client.h"

namespace jaild::jailctl {

// jailctl's own exit codes, apart from the program's (README.md, "jailctl"):
inline constexpr int kUsageError = 2;      // jailctl's command line is wrong (as getopt-style tools exit)
inline constexpr int kJailctlError = 125;  // jaild refused the request, could not be reached, or failed (docker's)

// Prints "jailctl: message" on stderr (after restoring the terminal when jailctl made it raw) and exits `code`.
[[noreturn]] void fail(int code, const std::string& message);
[[noreturn]] void die(const std::string& message);          // kJailctlError
[[noreturn]] void usage_error(const std::string& message);  // kUsageError, pointing at --help

// Writes all of `data` to fd; gives up silently when the reader is gone (`| head`).
void write_all(int fd, const std::string& data);

// KEY=VALUE strings into a protobuf map; a string without '=' is a usage error.
void put_env(const std::vector<std::string>& pairs, google::protobuf::Map<std::string, std::string>* env);

// Connects, or ends jailctl saying why and, when the socket's permissions refuse this user, what to do.
void connect(JaildClient& client, const std::string& socket_path);
// Connects and sends `request`, or ends jailctl with jaild's refusal or the transport's error.
void open_request(JaildClient& client, const std::string& socket_path, const v1::ClientMessage& request);
// One request, one answer, which may be jaild's Error.
v1::ServerMessage request_reply(const std::string& socket_path, const v1::ClientMessage& request);
// One request, one answer; a jaild Error ends jailctl with its message.
v1::ServerMessage ask(const std::string& socket_path, const v1::ClientMessage& request);
// jaild's Error as jailctl prints it: the message, and the field at fault when there is one.
std::string error_text(const v1::Error& error);

// The exit code jailctl passes on for a program's Exit, after printing on stderr what ended it when that was
// not the program itself (a limit, a program that could not start, a sandbox failure).
int exit_code_of(const v1::Exit& exit);

}  // namespace jaild::jailctl
