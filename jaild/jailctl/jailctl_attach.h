// Attached to a process of a live session: its output on jailctl's stdout and stderr as it comes, jailctl's
// stdin to it, jailctl's terminal size to its pseudo-terminal, until it exits (docs/sessions.md, "jailctl").
#pragma once

#include <cstdint>
#include <string>

namespace jaild::jailctl {

struct AttachPlan {
    std::string session_id;
    std::uint32_t pid = 0;
    bool live_only = false;         // only what it writes from now on, not what its buffers hold
    bool pty = false;               // it has a terminal: jailctl's goes raw and its size follows jailctl's
    bool resize_at_start = false;   // attach: its terminal takes jailctl's size at once (exec started it so)
    bool forward_stdin = true;      // jailctl's stdin goes to it
    bool eof_closes_stdin = false;  // EOF on jailctl's stdin closes its stdin (exec), or only stops (attach)
    // exec: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to jailctl go to the process, which decides (as `docker
    // run` proxies them). attach: they detach jailctl, and the process keeps running.
    bool forward_signals = false;
};

// Blocks the signals attach() handles, so that one arriving before it (while exec starts the process) waits
// for it and is then forwarded, rather than killing jailctl with the process started and nobody attached.
void hold_attach_signals();

// Runs on jailctl's main thread until the process's Exit, then ends jailctl with its exit code (128+N for
// signal N) with the terminal restored; jaild's refusal ends it with 125 and jaild's message.
[[noreturn]] void attach(const std::string& socket_path, const AttachPlan& plan);

}  // namespace jaild::jailctl
