// E2B's code interpreter (a sandbox's port 49999; docs/e2b.md, "Code interpreter") on the interpreter contexts
// of the live session that is the sandbox: POST /execute streams a cell's events as E2B's JSON lines,
// /contexts creates, lists, removes and restarts contexts. A sandbox's default context (the one /execute
// uses when it names none) is its oldest, made by the first call that needs it. A cell's client that goes
// away interrupts the cell; env_vars hold for that cell only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "gateway/routes.h"

namespace jaild::gateway::e2b {

// A request to the code interpreter of `sandbox_id`, its traffic token already checked (envd_routes.h); the
// exchange's caller is the sandbox's owner.
boost::asio::awaitable<void> handle_interpreter_call(Exchange& exchange, const std::string& sandbox_id);

}  // namespace jaild::gateway::e2b
