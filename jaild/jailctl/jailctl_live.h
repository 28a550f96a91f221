// jailctl's commands for live sessions (docs/sessions.md, "Live sessions"): exec, ps, attach and kill for
// processes, context and cell for interpreter contexts.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jaild::jailctl {

struct LiveOptions {
    std::string id;
    std::uint32_t pid = 0;
    bool tty = false, detach = false, no_stdin = false, live_only = false;
    std::vector<std::string> env;
    std::string cwd;
    std::uint64_t timeout_ms = 0;
    std::vector<std::string> command;  // exec, with what follows "--"
    std::string signal = "SIGTERM";    // kill: a name or a number
    std::string language = "python";   // context
    std::string context_id, code;      // cell
};

// Adds the live commands to `jailctl sessions`.
void add_live_commands(CLI::App& sessions, LiveOptions& options);

// Runs `action` when it is a live command (the exit code jailctl ends with); nothing when it is not one.
std::optional<int> live_command(const std::string& socket_path, const std::string& action, const LiveOptions& o);

// A signal by name ("SIGTERM", "TERM", "term") or number; 0 when it names none.
int parse_signal(const std::string& text);

}  // namespace jaild::jailctl
