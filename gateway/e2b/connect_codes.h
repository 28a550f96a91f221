// Connect RPC's error codes (connectrpc.com/docs/protocol, "Error Codes"): their names on the wire, the HTTP
// status a unary error is sent with, and the code a Connect client reads from a status when the body is not
// a Connect error. Pure; unit-tested in tests/unit/test_e2b_connect.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jaild::gateway::e2b {

enum class ConnectCode {
    canceled = 1,
    unknown = 2,
    invalid_argument = 3,
    deadline_exceeded = 4,
    not_found = 5,
    already_exists = 6,
    permission_denied = 7,
    resource_exhausted = 8,
    failed_precondition = 9,
    aborted = 10,
    out_of_range = 11,
    unimplemented = 12,
    internal = 13,
    unavailable = 14,
    data_loss = 15,
    unauthenticated = 16,
};

struct ConnectError {
    ConnectCode code;
    std::string message;
};

// "not_found", as the code travels in JSON.
std::string_view code_name(ConnectCode code);
std::optional<ConnectCode> code_from_name(std::string_view name);
// The status of a unary error answer (and of a stream refused before its 200).
unsigned http_status(ConnectCode code);
// What a Connect client makes of a non-200 answer whose body is not a Connect error (connect-web's
// codeFromHttpStatus): why every error the gateway sends carries its JSON body.
ConnectCode code_from_http_status(unsigned status);

// {"code":"not_found","message":"..."}: a unary error's body, and the "error" of an end-of-stream message.
// The message is made valid UTF-8.
std::string error_json(const ConnectError& error);

}  // namespace jaild::gateway::e2b
