#include "gateway/e2b/process_events.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace json = boost::json;

namespace {

// Go's syscall signal table for Linux (zerrors_linux_amd64.go, signalList), by number.
constexpr std::string_view kGoSignalNames[] = {
    "",
    "hangup",
    "interrupt",
    "quit",
    "illegal instruction",
    "trace/breakpoint trap",
    "aborted",
    "bus error",
    "floating point exception",
    "killed",
    "user defined signal 1",
    "segmentation fault",
    "user defined signal 2",
    "broken pipe",
    "alarm clock",
    "terminated",
    "stack fault",
    "child exited",
    "continued",
    "stopped (signal)",
    "stopped",
    "stopped (tty input)",
    "stopped (tty output)",
    "urgent I/O condition",
    "CPU time limit exceeded",
    "file size limit exceeded",
    "virtual timer expired",
    "profiling timer expired",
    "window changed",
    "I/O possible",
    "power failure",
    "bad system call",
};

std::string event(std::string_view kind, json::object body) {
    json::object inner;
    inner[kind] = std::move(body);
    json::object outer;
    outer["event"] = std::move(inner);
    return json::serialize(outer);
}

std::string_view stream_key(OutputStream stream) {
    switch (stream) {
        case OutputStream::stdout_stream: return "stdout";
        case OutputStream::stderr_stream: return "stderr";
        case OutputStream::pty: return "pty";
    }
    return "stdout";
}

}  // namespace

std::string go_signal_name(int signal) {
    constexpr int named = static_cast<int>(std::size(kGoSignalNames));
    if (signal > 0 && signal < named) return std::string(kGoSignalNames[signal]);
    return "signal " + std::to_string(signal);
}

std::string go_status(const ProcessEnd& end) {
    if (end.signal > 0) return "signal: " + go_signal_name(end.signal);
    return "exit status " + std::to_string(end.exit_code);
}

std::string start_event(std::uint32_t pid) {
    json::object start;
    start["pid"] = pid;
    return event("start", std::move(start));
}

std::string data_event(OutputStream stream, std::string_view bytes) {
    json::object data;
    data[stream_key(stream)] = base64_encode(bytes);
    return event("data", std::move(data));
}

std::string keepalive_event() { return event("keepalive", {}); }

std::string end_event(const ProcessEnd& end) {
    const bool signalled = end.signal > 0;
    json::object body;
    body["exitCode"] = signalled ? -1 : end.exit_code;
    body["exited"] = !signalled;
    body["status"] = go_status(end);
    if (signalled || end.exit_code != 0) body["error"] = go_status(end);
    return event("end", std::move(body));
}

}  // namespace jaild::gateway::e2b
