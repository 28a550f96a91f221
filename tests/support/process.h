// The one way the tests start a program (jaild, jaild-gateway, jailctl): the parent prepares its argv,
// environment, user and standard streams; the child only applies them and execs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace jaild::test {

struct Launch {
    std::vector<std::string> argv;  // argv[0] is the file executed
    std::vector<std::string> env;   // NAME=value, added to this process's environment (replacing NAME)
    int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // become 0, 1 and 2; -1: inherited
    uid_t uid = 0;  // not root: that uid, the group of the same number, no supplementary groups
    // stdin_fd is a terminal (a pty's slave): the child leads a new session with it as controlling terminal,
    // so that it gets the terminal's signals (SIGWINCH on a resize) as a program started from a shell does.
    bool controlling_terminal = false;
};

// Forks and execs `spec`. The child inherits no descriptor but 0, 1 and 2, and dies with the test process
// (PR_SET_PDEATHSIG): a test that crashes or times out takes its daemons along, and with them the
// descriptors they would hold (the test lock's, /tmp/jaild-tests.lock, among them). The child _exits 126 when
// it cannot become `uid` or take its controlling terminal, 127 when the exec fails. Throws when fork fails.
pid_t launch(const Launch& spec);

// SIGTERM to a child process and wait for it; returns its wait status (-1 if pid <= 0) and sets pid to -1.
int terminate_child(pid_t& pid);

}  // namespace jaild::test
