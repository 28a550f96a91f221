// jailctl's own terminal, for a process with a pseudo-terminal in a live session: its size, and raw mode
// (every key goes to the remote terminal, which echoes and interprets it) restored on every way out.
#pragma once

#include <cstdint>
#include <optional>

namespace jaild::jailctl::terminal {

struct Size {
    std::uint32_t rows = 0, cols = 0;
};

// The window size of jailctl's terminal (stdin's, else stdout's); nothing when neither is a terminal.
std::optional<Size> window_size();

// Puts stdin's terminal in raw mode, remembering the mode it had; false when stdin is not a terminal.
bool make_raw();

// Gives the terminal back the mode make_raw() found; does nothing when make_raw() did not change it.
// Async-signal-safe (tcsetattr on saved state), so any exit path may call it, a signal handler too.
void restore() noexcept;

}  // namespace jaild::jailctl::terminal
