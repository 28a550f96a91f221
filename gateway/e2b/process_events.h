// The JSON of envd's process events (E2B spec/envd/process/process.proto, ProcessEvent), as Start and Connect
// stream them, one per Connect envelope: {"event": {"start"|"data"|"keepalive"|"end": ...}}. An end says what
// envd (Go's os.ProcessState) says: "exit status 3", or "signal: killed" with exitCode -1. Pure; unit-tested
// in tests/unit/test_e2b_connect.cc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace jaild::gateway::e2b {

enum class OutputStream { stdout_stream, stderr_stream, pty };

// How a process ended: its exit status, or the signal that killed it (signal > 0; exit_code is then unused).
struct ProcessEnd {
    int exit_code = 0;
    int signal = 0;
};

// Go's name of a Linux signal, as in "signal: killed"; "signal 34" beyond the named ones.
std::string go_signal_name(int signal);
// Go's ProcessState.String(): "exit status 3", "signal: terminated".
std::string go_status(const ProcessEnd& end);

// {"event":{"start":{"pid":42}}}: always a stream's first message.
std::string start_event(std::uint32_t pid);
// {"event":{"data":{"stdout":"<base64>"}}} ("stderr", "pty").
std::string data_event(OutputStream stream, std::string_view bytes);
// {"event":{"keepalive":{}}}
std::string keepalive_event();
// {"event":{"end":{"exitCode":3,"exited":true,"status":"exit status 3","error":"exit status 3"}}}; "error"
// only when the process failed (non-zero status or a signal), and exitCode -1 after a signal.
std::string end_event(const ProcessEnd& end);

}  // namespace jaild::gateway::e2b
