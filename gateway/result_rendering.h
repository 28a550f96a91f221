// jaild's answers as HTTP answers: a finished run's result object and its status, NDJSON output lines, error
// bodies, and jaild's Error mapped to an HTTP status. Pure functions, unit-tested in
// tests/unit/test_gateway_codec.cc; docs/api.md describes the result.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/request_parsing.h"
#include "gateway/text_encoding.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// A degraded jaild's Isolation (how it enforced the limits) as the JSON object docs/api.md describes.
boost::json::object isolation_object(const v1::Isolation& isolation);
// The result object of a finished run (every field present every time, see docs/api.md; "isolation" only
// from a degraded jaild).
// `request` gives the encoding and, for a script, the limits its timeout message names.
boost::json::object result_object(const v1::Exit& exit, std::string_view out, std::string_view err,
                                  const ParsedRequest& request);
// The result object as JSON text, with `raw_result` (jaild's result_json, the runner's own serialization)
// spliced in verbatim when it is valid: Python's 2.0 stays 2.0 instead of Boost.JSON's 2E0.
std::string serialize_result(boost::json::object& result, std::string_view raw_result);
// The HTTP status of a finished run's answer. 200 whatever the program did, except in the `script` (main())
// dialect, whose services (seeds 001, 004) answered 400 for a run that did not return from main() and 500 for
// their own failures; never 408, which clients resend on a kept-alive connection.
unsigned result_http_status(const boost::json::object& result, bool script);
// A result for a run whose end jaild never reported (jaild died or broke the protocol mid-run).
boost::json::object internal_error_result(std::string_view error, std::string_view out, std::string_view err,
                                          Encoding encoding);
// One NDJSON line (without the newline) for an Output event whose data is already encoded.
std::string output_line(v1::Stream stream, std::string_view encoded_data);

// Error text of a timed-out seed-004 script, word for word what that service said.
std::string script_timeout_message(std::uint64_t limit_ms);

// {"error": message, "field": field-or-null} serialized.
std::string error_body(std::string_view message, std::string_view field = {});

// How a jaild Error becomes an HTTP answer.
struct HttpError {
    unsigned status = 502;
    std::string body;
    bool retry_after = false;  // 429/503: tell the client to come back in a second
};
HttpError map_jaild_error(const v1::Error& error, RequestKind kind);

}  // namespace jaild::gateway
