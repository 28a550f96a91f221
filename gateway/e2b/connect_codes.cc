#include "gateway/e2b/connect_codes.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace {

struct CodeRow {
    ConnectCode code;
    std::string_view name;
    unsigned status;
};

// The Connect protocol's table (and connect-go's/connect-web's codeToHttpStatus).
constexpr CodeRow kCodes[] = {
    {ConnectCode::canceled, "canceled", 499},
    {ConnectCode::unknown, "unknown", 500},
    {ConnectCode::invalid_argument, "invalid_argument", 400},
    {ConnectCode::deadline_exceeded, "deadline_exceeded", 504},
    {ConnectCode::not_found, "not_found", 404},
    {ConnectCode::already_exists, "already_exists", 409},
    {ConnectCode::permission_denied, "permission_denied", 403},
    {ConnectCode::resource_exhausted, "resource_exhausted", 429},
    {ConnectCode::failed_precondition, "failed_precondition", 400},
    {ConnectCode::aborted, "aborted", 409},
    {ConnectCode::out_of_range, "out_of_range", 400},
    {ConnectCode::unimplemented, "unimplemented", 501},
    {ConnectCode::internal, "internal", 500},
    {ConnectCode::unavailable, "unavailable", 503},
    {ConnectCode::data_loss, "data_loss", 500},
    {ConnectCode::unauthenticated, "unauthenticated", 401},
};

const CodeRow& row(ConnectCode code) {
    for (const CodeRow& r : kCodes)
        if (r.code == code) return r;
    return kCodes[1];  // unknown: not reachable with a valid enumerator
}

}  // namespace

std::string_view code_name(ConnectCode code) { return row(code).name; }

std::optional<ConnectCode> code_from_name(std::string_view name) {
    for (const CodeRow& r : kCodes)
        if (r.name == name) return r.code;
    return std::nullopt;
}

unsigned http_status(ConnectCode code) { return row(code).status; }

ConnectCode code_from_http_status(unsigned status) {
    switch (status) {
        case 400: return ConnectCode::internal;
        case 401: return ConnectCode::unauthenticated;
        case 403: return ConnectCode::permission_denied;
        case 404: return ConnectCode::unimplemented;
        case 429:
        case 502:
        case 503:
        case 504: return ConnectCode::unavailable;
        default: return ConnectCode::unknown;
    }
}

std::string error_json(const ConnectError& error) {
    boost::json::object body;
    body["code"] = code_name(error.code);
    body["message"] = sanitize_utf8(error.message);
    return boost::json::serialize(body);
}

}  // namespace jaild::gateway::e2b
