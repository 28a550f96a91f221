// The gateway's side of talking to jaild, for every route: a run forwarded and its events back to the HTTP
// client, buffered (one JSON result) or streamed (NDJSON, one line per Output event, flushed as it arrives);
// one request and its one answer for the session and file routes; /languages and /health. Runs on the HTTP
// connection's strand.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "common/jaild_client.h"
#include "gateway/request_parsing.h"
#include "gateway/routes.h"

namespace jaild::gateway {

// Sends a run/execute request on a new jaild connection and answers the exchange: an error answer when jaild
// refuses, else a result (a 200 whatever the program did). Leaving early (client gone, cancellation) closes
// the jaild connection, which kills the job. A seed 002 request (user_id set) also lists the session's
// workspace once the run is over and adds it to the result as workspace_files.
boost::asio::awaitable<void> forward_run(Exchange& exchange, ParsedRequest request, bool stream);

// Sends one request (stamped with the request id and the principal) and receives its one answer. Answers the
// exchange itself and returns false when jaild cannot be reached or refuses (its Error mapped for `kind`).
boost::asio::awaitable<bool> request_reply(Exchange& exchange, v1::ClientMessage& message, RequestKind kind,
                                           v1::ServerMessage& reply);

// request_reply on a connection the caller keeps for what follows the first answer (file transfers).
boost::asio::awaitable<bool> open_exchange(Exchange& exchange, JaildClient& client, v1::ClientMessage& message,
                                           RequestKind kind, v1::ServerMessage& first);

// Connects and sends `message` (stamped as request_reply stamps it) on `client`, whose answers the caller reads
// itself (the live routes' streams). Answers the exchange (503) and returns false when jaild cannot be reached.
boost::asio::awaitable<bool> send_request(Exchange& exchange, JaildClient& client, v1::ClientMessage& message);

// Stamps `message` with the exchange's request id, the caller's principal and that caller's quota, as every
// request to jaild is (for the routes that talk to jaild in their own way: gateway/e2b/sandbox_calls.h).
void stamp(v1::ClientMessage& message, const Exchange& exchange);

// Answers the exchange with a JSON body.
// GCC 12 coroutines (docs/development.md): callers pass a named body, no temporary
boost::asio::awaitable<void> send_json(Exchange& exchange, unsigned status, const std::string& body);

// GET /languages: forwards a LanguagesRequest.
boost::asio::awaitable<void> forward_languages(Exchange& exchange);

// GET /health: whether jaild answers a request from the gateway (a languages request: it fails as every
// request would when jaild is down or does not allow the gateway's user).
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
