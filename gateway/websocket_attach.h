// GET /sessions/{id}/processes/{pid}/attach: a process of a live session over a WebSocket (docs/api.md, "Live
// sessions"). One jaild connection carries the ProcessAttach and then the client's input (StdinChunk,
// ProcessSignal, ProcessResize); jaild's output and exit go to the client as text frames, each one JSON line as
// GET .../output streams them. Either side closing ends the attach, never the process.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/routes.h"

namespace jaild::gateway {

boost::asio::awaitable<void> handle_process_attach(Exchange& exchange);

}  // namespace jaild::gateway
