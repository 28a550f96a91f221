#include "gateway/result_rendering.h"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <utility>

#include "gateway/precise_json.h"

namespace jaild::gateway {

namespace json = boost::json;

std::string script_timeout_message(std::uint64_t limit_ms) {
    return "Script execution timed out (" + std::to_string((limit_ms + 999) / 1000) + "s limit)";
}

namespace {

std::string status_name(v1::Status status) {
    // Unspecified, or a value this gateway does not know (a newer jaild): the client still gets a status.
    if (status == v1::STATUS_UNSPECIFIED || !v1::Status_IsValid(status)) return "internal_error";
    std::string name = v1::Status_Name(status).substr(7);  // drop "STATUS_"
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

json::value null_if_empty(std::string_view text) { return text.empty() ? json::value(nullptr) : json::value(text); }

json::value parse_result_json(std::string_view text) {
    if (text.empty()) return nullptr;
    boost::system::error_code ec;
    json::value value = parse_json(text, ec);
    return ec ? json::value(nullptr) : value;  // jaild's runner writes JSON; anything else is not a result
}

const v1::Limits& request_limits(const ParsedRequest& request) {
    return request.kind == RequestKind::execute ? request.message.execute().limits() : request.message.run().limits();
}

}  // namespace

json::object isolation_object(const v1::Isolation& isolation) {
    json::object out;
    out["cgroups"] = isolation.cgroups();
    out["memory"] = isolation.memory();
    out["processes"] = isolation.processes();
    out["cpu"] = isolation.cpu();
    out["wall"] = isolation.wall();
    out["memory_peak"] = isolation.memory_peak();
    out["cpu_usage"] = isolation.cpu_usage();
    out["root"] = isolation.root();
    out["namespaces"] = isolation.namespaces();
    out["runtime"] = isolation.runtime();
    out["reaper_uid"] = isolation.reaper_uid();
    return out;
}

json::object result_object(const v1::Exit& exit, std::string_view out, std::string_view err,
                           const ParsedRequest& request) {
    std::string error = exit.error();
    if (request.script && exit.status() == v1::STATUS_TIMEOUT) {
        const v1::Limits& limits = request_limits(request);
        error = script_timeout_message(exit.timeout_kind() == "cpu" ? limits.cpu_ms() : limits.wall_ms());
    }
    json::object result;
    result["stdout"] = encode_output(out, request.encoding);
    result["stderr"] = encode_output(err, request.encoding);
    result["exit_code"] = exit.exit_code();
    // The number, as seed 003's clients read it (they compute 128 + signal); the name beside it for people.
    result["signal"] = exit.signal() > 0 ? json::value(exit.signal()) : json::value(nullptr);
    result["signal_name"] = null_if_empty(exit.signal_name());
    result["status"] = status_name(exit.status());
    result["error"] = null_if_empty(error);
    result["wall_ms"] = exit.wall_ms();
    result["cpu_ms"] = exit.cpu_ms();
    // null where nothing measured it (a degraded jaild, whose isolation object below says so).
    result["memory_kb"] = exit.memory_kb_unknown() ? json::value(nullptr) : json::value(exit.memory_kb());
    result["truncated"] = exit.stdout_truncated() || exit.stderr_truncated();
    result["result"] = parse_result_json(exit.result_json());
    result["trace"] = null_if_empty(exit.trace());
    if (exit.has_isolation()) result["isolation"] = isolation_object(exit.isolation());
    return result;
}

unsigned result_http_status(const json::object& result, bool script) {
    if (!script) return 200;
    const json::value* status = result.if_contains("status");
    if (status && *status == "ok") return 200;
    if (status && *status == "internal_error") return 500;
    return 400;
}

std::string serialize_result(json::object& result, std::string_view raw_result) {
    json::value* slot = result.if_contains("result");
    if (!slot || slot->is_null() || raw_result.empty()) return json::serialize(result);
    // The "result" key is the object's own: inside a JSON string every quote is escaped, so the sequence
    // ,"result": can only be the key.
    json::value parsed = std::exchange(*slot, nullptr);
    std::string text = json::serialize(result);
    *slot = std::move(parsed);
    constexpr std::string_view placeholder = ",\"result\":null";
    const std::size_t at = text.find(placeholder);
    if (at == std::string::npos) return json::serialize(result);
    text.replace(at, placeholder.size(), ",\"result\":" + std::string(raw_result));
    return text;
}

json::object internal_error_result(std::string_view error, std::string_view out, std::string_view err,
                                   Encoding encoding) {
    v1::Exit exit;
    exit.set_status(v1::STATUS_INTERNAL_ERROR);
    exit.set_exit_code(-1);
    exit.set_error(std::string(error));
    ParsedRequest plain;
    plain.encoding = encoding;
    return result_object(exit, out, err, plain);
}

std::string output_line(v1::Stream stream, std::string_view encoded_data) {
    json::object line;
    line["type"] = stream == v1::STREAM_STDERR ? "stderr" : "stdout";
    line["data"] = encoded_data;
    return json::serialize(line);
}

std::string error_body(std::string_view message, std::string_view field) {
    json::object body;
    body["error"] = message;
    body["field"] = null_if_empty(field);
    return json::serialize(body);
}
namespace {

// jaild names the limit in its own words ("cpu_ms 99999 exceeds ..."); say it in the request's words.
std::string translate_message(std::string message, std::string_view proto_field, std::string_view http_field) {
    std::string_view bare = proto_field;
    if (bare.starts_with("limits.")) bare.remove_prefix(7);
    const std::string_view http_bare = http_field.substr(std::min(http_field.rfind('.') + 1, http_field.size()));
    if (!bare.empty() && message.starts_with(bare) && message.size() > bare.size() && message[bare.size()] == ' ')
        message.replace(0, bare.size(), http_bare);
    return message;
}

}  // namespace

HttpError map_jaild_error(const v1::Error& error, RequestKind kind) {
    HttpError out;
    switch (error.code()) {
        case v1::ERROR_CODE_INVALID_ARGUMENT: {
            const std::string field = http_field_name(error.field(), kind);
            out.status = 400;
            out.body = error_body(translate_message(error.message(), error.field(), field), field);
            return out;
        }
        case v1::ERROR_CODE_RESOURCE_EXHAUSTED:
            out.status = 429;
            out.retry_after = true;
            break;
        case v1::ERROR_CODE_UNAVAILABLE:
            out.status = 503;
            out.retry_after = true;
            break;
        case v1::ERROR_CODE_UNIMPLEMENTED: out.status = 501; break;
        case v1::ERROR_CODE_FAILED_PRECONDITION:  // not live, not a terminal, ended
        case v1::ERROR_CODE_ALREADY_EXISTS: out.status = 409; break;
        case v1::ERROR_CODE_NOT_FOUND:
        case v1::ERROR_CODE_QUOTA_EXCEEDED:
            // Unknown (or another principal's) session or file; an upload past the session's disk quota.
            out.status = error.code() == v1::ERROR_CODE_NOT_FOUND ? 404 : 507;
            out.body = error_body(error.message());
            return out;
        default: out.status = 502; break;  // PROTOCOL, PERMISSION_DENIED, INTERNAL: the gateway's side failed
    }
    out.body = error_body(error.message(), error.field());
    return out;
}

}  // namespace jaild::gateway
