// envd's process.Process service on the gateway (docs/e2b.md): requests that name a sandbox (E2b-Sandbox-Id,
// port 49983) and carry its X-Access-Token, mapped onto the live session's processes in jaild. Unary RPCs
// answer JSON (errors: a non-200 status and {"code", "message"}); Start and Connect stream Connect envelopes:
// start, data, end, then the end-of-stream message.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/routes.h"

namespace jaild::gateway::e2b {

// Any request that names a sandbox (e2b::sandbox_request), admitted by its token before its body was read
// (gateway/e2b/sandbox_admission.h): the caller is the principal the token was minted for.
boost::asio::awaitable<void> handle_sandbox_call(Exchange& exchange);

}  // namespace jaild::gateway::e2b
