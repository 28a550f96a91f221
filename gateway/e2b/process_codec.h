// envd's process.Process RPCs (E2B spec/envd/process/process.proto) in JSON, mapped onto jaild's live
// processes: Start's request to ProcessStart, the process selector, SendInput, SendSignal and Update, the
// Connect-Timeout-Ms header (envd kills the process at that deadline), and List's answer. Errors are Connect
// errors naming the field. Pure; unit-tested in tests/unit/test_e2b_process.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/e2b/connect_codes.h"
#include "gateway/e2b/process_events.h"
#include "jaild.pb.h"

namespace jaild::gateway::e2b {

// The user an envd request acts as (Authorization: Basic base64("<name>:")): "user", the default, or "root",
// which is the same unprivileged uid with HOME=/root (nothing in a sandbox runs as root).
enum class EnvdUser { user, root };
// The header's user; no header is "user". Another name is unauthenticated "invalid username: '<name>'".
std::variant<EnvdUser, ConnectError> envd_user(std::string_view authorization);

// Connect-Timeout-Ms: 1 to 10 digits (the Connect protocol's limit); absent is nullopt.
std::variant<std::optional<std::uint64_t>, ConnectError> connect_timeout_ms(std::string_view header);

// Start: {"process": {"cmd", "args", "envs", "cwd"}, "pty": {"size": {"cols", "rows"}}, "stdin": bool, "tag"}.
// stdin false starts the process with its stdin closed; `timeout_ms` (the Connect-Timeout-Ms) kills it then.
// session_id is left to the caller.
std::variant<v1::ProcessStart, ConnectError> parse_start(std::string_view body, EnvdUser user,
                                                         std::optional<std::uint64_t> timeout_ms);

// {"process": {"pid": N}} of Connect, CloseStdin and the others; selecting by tag is refused.
std::variant<std::uint32_t, ConnectError> parse_selector(std::string_view body);

struct Input {
    std::uint32_t pid = 0;
    std::string data;
    bool pty = false;  // sent as "pty" (a terminal's input) rather than "stdin"
};
// SendInput: {"process": {...}, "input": {"stdin": "<base64>"} | {"pty": "<base64>"}}.
std::variant<Input, ConnectError> parse_send_input(std::string_view body);

struct Signal {
    std::uint32_t pid = 0;
    int signal = 0;
};
// SendSignal: {"process": {...}, "signal": "SIGNAL_SIGKILL" | "SIGNAL_SIGTERM" | 9 | 15}.
std::variant<Signal, ConnectError> parse_send_signal(std::string_view body);

struct Resize {
    std::uint32_t pid = 0;
    std::uint32_t rows = 0;
    std::uint32_t cols = 0;
};
// Update: {"process": {...}, "pty": {"size": {"cols", "rows"}}}.
std::variant<Resize, ConnectError> parse_update(std::string_view body);

// List's answer: the running processes, each with its config ({"cmd", "args", "envs", "cwd"}: the SDK needs it).
std::string list_json(const v1::ProcessInfoList& list);

// How an ended process ended, from jaild's ProcessInfo (exit_code is 128 + signal there when one killed it).
ProcessEnd process_end(const v1::ProcessInfo& info);

}  // namespace jaild::gateway::e2b
