// What went wrong with a request, in jaild's own terms; the protocol's v1::ErrorCode is made from it where a
// reply is built (replies.h).
#pragma once

namespace jaild {

enum class ErrorCode {
    none,                 // no error
    invalid_argument,     // the request is malformed or a value is out of range (a field names which)
    protocol,             // garbage, truncated or oversized frame; unexpected message
    permission_denied,    // the peer may not talk to jaild
    not_found,            // unknown session, file or language
    resource_exhausted,   // no free sandbox slot (uid pool, job limit)
    unimplemented,        // a request kind this jaild does not serve
    internal,             // jaild failed; the message says where
    unavailable,          // jaild is shutting down
    quota_exceeded,       // a session's disk quota would be exceeded
    failed_precondition,  // not in this state: the session is not live, the process has ended
    already_exists,       // what a request would create is there already
};

}  // namespace jaild
