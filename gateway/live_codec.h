// JSON ⇄ protobuf for the processes of live sessions (docs/api.md, "Live sessions"): the request bodies, the
// URL's pid and query flags, the attach WebSocket's client frames, and the answers (process info, output lines).
// Pure functions like request_parsing: no sockets, no clocks; unit-tested in tests/unit/test_live_codec.cc.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/request_parsing.h"
#include "gateway/session_codec.h"
#include "jaild.pb.h"

namespace jaild::gateway {

// The {pid} of a URL: a decimal process id, 1 to 4294967295.
std::variant<std::uint32_t, FieldError> parse_pid(std::string_view text);

// The flags of a request target's query (`?live=1&eof=true`): each of `known`, as 1/true/0/false or bare (true).
// Another name or value is a FieldError naming it.
std::variant<std::map<std::string, bool>, FieldError> parse_query_flags(std::string_view target,
                                                                        std::initializer_list<std::string_view> known);

// A signal as a request gives it: a name ("SIGTERM" or "TERM") or a number (1 to 64). nullopt when neither.
std::optional<int> signal_number(const boost::json::value& value);

// POST /sessions/{id}/processes: {"command", "env", "cwd", "pty": {"rows", "cols"}, "timeout_ms", "user",
// "stdin"}; session_id is left to the caller.
std::variant<v1::ProcessStart, FieldError> parse_process_start(std::string_view body);
// POST .../signal: {"signal": "SIGTERM" | 15}.
std::variant<v1::ProcessSignal, FieldError> parse_process_signal(std::string_view body);
// POST .../resize: {"rows", "cols"}.
std::variant<v1::ProcessResize, FieldError> parse_process_resize(std::string_view body);
// POST /sessions/{id}/timeout: {"timeout_ms"}.
std::variant<v1::SessionSetTimeout, FieldError> parse_session_timeout(std::string_view body);
// An optional body that must be empty or {} (DELETE-like POSTs: interrupt, restart).
std::optional<FieldError> parse_empty_body(std::string_view body);

// A text frame of an attach WebSocket's client as the message jaild takes on the attach connection:
// {"type": "stdin", "data"} and {"type": "eof"} (StdinChunk), {"type": "resize", "rows", "cols"},
// {"type": "signal", "signal"}. A binary frame is stdin as it is: attach_stdin().
std::variant<v1::ClientMessage, FieldError> parse_attach_frame(std::string_view text);
v1::ClientMessage attach_stdin(std::string bytes);

// {"pid", "command", "running", "exit_code", "signal", "signal_name", "pty", "cwd", "started_unix_ms",
// "context_id"}: exit_code and signal are null while it runs, signal (and its name) null unless a signal ended it.
boost::json::object process_info_object(const v1::ProcessInfo& info);
std::string process_info_body(const v1::ProcessInfo& info);
std::string process_list_body(const v1::ProcessInfoList& list);
// The process `pid` of a listing, or null.
const v1::ProcessInfo* find_process(const v1::ProcessInfoList& list, std::uint32_t pid);

// {"type": "error", "error", "field"}: what the attach WebSocket and the output stream say when jaild or the
// client's frame failed.
std::string stream_error_line(std::string_view message, std::string_view field = {});

// A process's output as JSON lines (no newline), stream by stream: {"type": "stdout"|"stderr", "data"} with
// the bytes as UTF-8 text, plus "data_base64" holding them exactly when they are not UTF-8 (a sequence cut
// between two events waits for the next one); {"type": "dropped", "stream", "bytes"} where the ring buffer lost
// bytes; {"type": "exit", "exit_code", "signal", "signal_name"} last.
class OutputLines {
public:
    // The lines for one of jaild's messages on an attach connection; `ended` after the Exit, or jaild's Error
    // (an error line).
    std::vector<std::string> event(const v1::ServerMessage& message, bool& ended);
    std::vector<std::string> output(const v1::Output& output);
    std::vector<std::string> exit(const v1::Exit& exit);
    // What the streams still hold (a cut sequence), as lines: at the end of the stream.
    std::vector<std::string> flush();

private:
    std::string& pending(v1::Stream stream) { return stream == v1::STREAM_STDERR ? err_ : out_; }
    std::string out_, err_;
};

// The lines as NDJSON: each followed by a newline.
std::string ndjson(const std::vector<std::string>& lines);

}  // namespace jaild::gateway
