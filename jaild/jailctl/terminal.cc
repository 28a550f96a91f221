#include "jaild/jailctl/terminal.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>

namespace jaild::jailctl::terminal {

namespace {

termios saved{};
std::atomic<bool> raw{false};

}  // namespace

std::optional<Size> window_size() {
    for (const int fd : {0, 1}) {
        winsize size{};
        if (::isatty(fd) && ::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0)
            return Size{size.ws_row, size.ws_col};
    }
    return std::nullopt;
}

bool make_raw() {
    if (!::isatty(0) || ::tcgetattr(0, &saved) != 0) return false;
    termios mode = saved;
    // As cfmakeraw(3): no echo, no line editing, no signals from ^C/^Z/^\, no CR/NL translation in or out;
    // the remote terminal does all of that for the process behind it.
    ::cfmakeraw(&mode);
    mode.c_cc[VMIN] = 1;
    mode.c_cc[VTIME] = 0;
    // TCSADRAIN: what jailctl printed before is written out in the mode it was printed for.
    if (::tcsetattr(0, TCSADRAIN, &mode) != 0) return false;
    raw = true;
    return true;
}

void restore() noexcept {
    if (raw.exchange(false)) ::tcsetattr(0, TCSADRAIN, &saved);
}

}  // namespace jaild::jailctl::terminal
