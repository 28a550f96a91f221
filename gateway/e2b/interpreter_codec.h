// The code interpreter's wire format (E2B's port 49999; docs/e2b.md, "Code interpreter"), over the
// interpreter contexts of a live session: the bodies of POST /execute and POST /contexts, the contexts as E2B
// lists them, which context is a sandbox's default, the cells that set and restore a cell's env_vars, and a
// cell's events as E2B's JSON lines. E2B's interpreter answers errors in plain text (the SDK shows a 404's
// body as NotFoundError's message). Pure; unit-tested in tests/unit/test_e2b_interpreter.cc.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "jaild.pb.h"

namespace jaild::gateway::e2b {

// The working directory of a context that names none, as in E2B: the home of the sandbox's user, where a live
// sandbox shows its workspace.
inline constexpr std::string_view kInterpreterCwd = "/home/user";
// The only language jaild's contexts run.
inline constexpr std::string_view kPythonLanguage = "python";
// A cell's code reaches the interpreter as one JSON frame of at most 1 MiB; its code, as a JSON string, gets
// this much of it.
inline constexpr std::size_t kMaxCodeJsonBytes = 1024 * 1024 - 64;

// An answer in the interpreter's plain text.
struct TextAnswer {
    unsigned status = 400;
    std::string text;
    bool operator==(const TextAnswer&) const = default;
};

// POST /execute: {"code", "context_id", "language", "env_vars"}; null is absent, as the Python SDK sends it.
struct ExecuteRequest {
    std::string code;
    std::string context_id;  // empty: the sandbox's default context
    std::map<std::string, std::string> env_vars;
};
std::variant<ExecuteRequest, TextAnswer> parse_execute(std::string_view body);

// POST /contexts: {"cwd", "language"}, both optional (cwd defaults to kInterpreterCwd).
std::variant<std::string, TextAnswer> parse_context_create(std::string_view body);

// "Context <id> not found" (404), as E2B says it.
TextAnswer context_not_found(std::string_view context_id);

// jaild's refusal as the interpreter's answer: a context it does not have is context_not_found; a sandbox that
// is gone or not live is 502, as E2B's proxy answers for a sandbox that is not running (the SDK then says the
// sandbox probably timed out); invalid 400, quotas 429, jaild unavailable 503, anything else 500.
TextAnswer jaild_failure(const v1::Error& error, std::string_view context_id);

// {"id", "language", "cwd"}, and GET /contexts's array of them.
std::string context_json(const v1::ContextInfo& info);
std::string context_list_json(const v1::ContextInfoList& list);

// A sandbox's default context: its oldest. jaild numbers a sandbox's contexts as it creates them (ctx-1, ctx-2,
// ...), so the oldest is the first in length-then-text order. Null when it has none.
const v1::ContextInfo* default_context(const v1::ContextInfoList& list);

// The cell run before a cell with env_vars: it sets them in os.environ and has IPython put back what they were
// once the next cell ended (a post_run_cell hook, which also runs after an error or an interrupt). It does not
// count as an execution (it undoes IPython's increment of the execution count) and leaves no name in the
// user's namespace.
std::string env_set_cell(const std::map<std::string, std::string>& env_vars);

// A cell's events as E2B's lines, each a JSON object and a newline: {"type": "stdout"|"stderr", "text",
// "timestamp"}; {"type": "result", ...} with text's one pair of surrounding quotes taken off (as E2B does) and
// json as a JSON value; {"type": "error", "name", "value", "traceback"}; then {"type": "number_of_executions",
// "execution_count"} and {"type": "end_of_execution"} last. Output is carried so that a UTF-8 sequence cut
// between two messages is written whole; the lines for one message are one piece of text, never empty lines.
class ExecutionLines {
public:
    // The text for one of jaild's messages on a ContextRun; `ended` once the cell is over (its CellEnd, or
    // jaild's Error, which becomes an error line). `timestamp` (RFC 3339) goes on output lines.
    std::string event(const v1::ServerMessage& message, std::string_view timestamp, bool& ended);
    // jaild went away before the cell's end: an error named JaildError, then the end.
    std::string lost(std::string_view why, std::string_view timestamp);
    // {"type": "keepalive"}, sent while a cell is silent.
    static std::string keepalive();

private:
    std::string output(v1::Stream stream, std::string_view data, std::string_view timestamp);
    std::string flush(std::string_view timestamp);
    std::string out_, err_;
};

}  // namespace jaild::gateway::e2b
