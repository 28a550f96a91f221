// The zygote's embedded CPython (Debian's libpython3.11): started once with the language's environment, the
// operator's modules imported, and, in each forked child, the run handed to the launcher module
// (languages/support/jaild_warm.py), which makes it behave as a fresh `python3` started with the run's
// command line would.
#pragma once

#include <signal.h>

#include <array>
#include <string>
#include <vector>

namespace jaild::zygote {

struct Preloaded {
    std::string version;                           // "3.11.2"
    std::vector<std::string> failed;               // modules that did not import, with the reason
    std::array<struct sigaction, NSIG> signals{};  // the dispositions the interpreter's start left
};

// Initializes the interpreter as /usr/bin/python3, imports jaild_warm from support_dir and every module of
// `preload`, then calls jaild_warm.prepare() (gc.freeze). Throws std::runtime_error when the interpreter or
// the launcher cannot start; a preload module that fails is listed in `failed`, not fatal.
Preloaded start_interpreter(const std::string& support_dir, const std::vector<std::string>& preload);

// Around fork(): the interpreter's own locks (PyOS_BeforeFork and friends).
void before_fork();
void after_fork_in_parent();

// In the child, once it is in the sandbox: the run's command line and environment (from its start memfd),
// handed to jaild_warm.run(), which ends the process. Never returns.
[[noreturn]] void run_program(char* const* argv, char* const* envp);

}  // namespace jaild::zygote
