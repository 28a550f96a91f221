// E2B's control plane on the gateway (docs/e2b.md): a sandbox is a live session of the caller (its API key's
// tenant), its id the session's. Each handler forwards to jaild and answers in E2B's shape, errors as
// {"code": <status>, "message"}; calls for what a container cannot do (pause, snapshots, fork, ...) answer 501.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/routes.h"

namespace jaild::gateway::e2b {

boost::asio::awaitable<void> handle_sandbox_create(Exchange& exchange);   // POST /v2/sandboxes
boost::asio::awaitable<void> handle_sandbox_list(Exchange& exchange);     // GET /v2/sandboxes
boost::asio::awaitable<void> handle_sandbox_connect(Exchange& exchange);  // POST /v2/sandboxes/{id}/connect
boost::asio::awaitable<void> handle_sandbox_get(Exchange& exchange);      // GET /sandboxes/{id}
boost::asio::awaitable<void> handle_sandbox_kill(Exchange& exchange);     // DELETE /sandboxes/{id}
boost::asio::awaitable<void> handle_sandbox_timeout(Exchange& exchange);  // POST /sandboxes/{id}/timeout
// Pause, resume, snapshots, fork, network, metrics, logs, templates, volumes: 501 naming what is missing.
boost::asio::awaitable<void> handle_sandbox_unsupported(Exchange& exchange);

}  // namespace jaild::gateway::e2b
