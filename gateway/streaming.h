// Forwarding one request to jaild and its events back to the HTTP client, buffered (one JSON result) or
// streamed (NDJSON, one line per Output event, flushed as it arrives). Runs on the HTTP session's strand.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/json_codec.h"
#include "gateway/routes.h"

namespace jaild::gateway {

// Sends a run/execute request on a new jaild connection and answers the exchange: an error answer when jaild
// refuses, else a result (a 200 whatever the program did). Leaving early (client gone, cancellation) closes
// the jaild connection, which kills the job.
boost::asio::awaitable<void> forward_run(Exchange& exchange, ParsedRequest request, bool stream);

// GET /languages: forwards a LanguagesRequest.
boost::asio::awaitable<void> forward_languages(Exchange& exchange);

// GET /health: whether jaild's socket accepts a connection.
boost::asio::awaitable<void> probe_health(Exchange& exchange);

// Keeps a cut UTF-8 sequence at the end of a streamed chunk for the next chunk of the same stream.
class Utf8Carry {
public:
    std::string take(std::string_view data, Encoding encoding);
    std::string flush(Encoding encoding);

private:
    std::string pending_;
};

}  // namespace jaild::gateway
