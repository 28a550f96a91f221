// The protocol's words for jaild's plain results: error codes and run verdicts become v1 messages here, and
// nowhere else.
#pragma once

#include <string_view>

#include "jaild.pb.h"
#include "jaild/error_code.h"
#include "jaild/verdict.h"

namespace jaild {

v1::ErrorCode to_proto(ErrorCode code);
v1::Status to_proto(RunStatus status);
v1::Exit to_proto(const Verdict& verdict);

// A ServerMessage carrying an Error.
v1::ServerMessage error_reply(ErrorCode code, std::string_view message, std::string_view field = {});

}  // namespace jaild
