// JSON ⇄ protobuf for the interpreter contexts of live sessions (docs/api.md, "Live sessions"): their request
// bodies, their info, and a cell's events as NDJSON lines. Pure functions; unit-tested in
// tests/unit/test_live_codec.cc.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/live_codec.h"
#include "gateway/request_parsing.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// POST /sessions/{id}/contexts: an empty body, or {"language": "python", "cwd", "env"}; language defaults to
// python.
std::variant<v1::ContextCreate, FieldError> parse_context_create(std::string_view body);
// POST /sessions/{id}/contexts/{ctx}/run: {"code", "timeout_ms"}.
std::variant<v1::ContextRun, FieldError> parse_context_run(std::string_view body);

// {"context_id", "language", "cwd", "pid"}: pid null until the first cell started the interpreter.
boost::json::object context_info_object(const v1::ContextInfo& info);
std::string context_info_body(const v1::ContextInfo& info);
std::string context_list_body(const v1::ContextInfoList& list);
// Whether a listing holds `context_id`.
bool has_context(const v1::ContextInfoList& list, std::string_view context_id);

// A cell's result as {"type": "result", "text", "is_main_result"} plus each other form present ("html", "png"
// and "jpeg" base64, "svg", "markdown", "latex", "json" as a JSON value, "javascript"); text is made UTF-8.
boost::json::object result_object(const v1::CellResult& result);
// {"type": "error", "name", "value", "traceback"}, made UTF-8.
std::string error_line(std::string_view name, std::string_view value, std::string_view traceback);

// A cell's events as JSON lines (no newline): stdout/stderr as OutputLines writes them; result_object's
// {"type": "result", ...}; {"type": "error", "name", "value", "traceback"};
// {"type": "end", "execution_count"} last. A jaild failure mid-cell is an error named JaildError, then an end
// whose execution_count is null.
class CellLines {
public:
    // The lines for one of jaild's messages; `ended` once the cell is over (its CellEnd, or jaild's Error).
    std::vector<std::string> event(const v1::ServerMessage& message, bool& ended);
    // jaild went away before the cell's end.
    std::vector<std::string> lost(std::string_view why);

private:
    OutputLines output_;
};

}  // namespace jaild::gateway
