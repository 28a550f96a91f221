"""jaild's agent: the process manager inside a live session's sandbox.

jaild starts it as the sandbox's program (PID 2; jaild-reaper is PID 1), as the session's own uid under the
sandbox's seccomp filter:

    python3 -I -S /opt/jaild/jaild_agent.py        fd 3: a SOCK_STREAM socket to jaild

It starts the session's processes, moves their bytes and reports their exits; jaild keeps the ring buffers,
exit statuses and subscribers. Standard library only, one thread, one epoll loop. The agent makes itself
non-dumpable (prctl PR_SET_DUMPABLE 0), so that the session's processes, which run as the same uid, can
open neither its memory nor its fds through /proc. When fd 3 reaches EOF (jaild is gone) it kills the
process groups it started and exits; the reaper then ends the sandbox.

Framing, both directions of fd 3 and of a kernel's cell channel:

    u32 big-endian N (bytes that follow) | u8 type | u32 big-endian id | payload (N - 5 bytes, at most 1 MiB)

A frame whose N is below 5 or above the limit is skipped whole; a frame of unknown type, for an unknown
id or with a payload it cannot read is ignored. Only START is always answered.

jaild -> agent
    0x01 START   id = request number, JSON {"argv": [...], "env": ["K=V", ...], "cwd": "/workspace",
                 "pty": {"rows": R, "cols": C} | null, "stdin": true|false, "kernel": true|false}.
                 Answered by STARTED with the same id.
    0x02 STDIN   id = pid, raw bytes for its standard input (a pty's master), queued, never blocking
    0x03 EOF     id = pid: close its stdin pipe once the queue is written; a pty gets its VEOF char (^D)
                 (a program that set the terminal raw just reads that byte)
    0x04 SIGNAL  id = pid, JSON {"signal": N}: killpg(pid, N), else kill(pid, N)
    0x05 RESIZE  id = pid, JSON {"rows": R, "cols": C}: TIOCSWINSZ on its pty (the kernel sends SIGWINCH)
    0x06 CELL    id = pid of a kernel, JSON {"code": "..."}: passed verbatim to that kernel's cell channel

agent -> jaild
    0x10 READY      id = 0, JSON {"pid": P}, once, first
    0x11 STARTED    id = the START's, JSON {"pid": N} or {"error": "cannot execute \"x\": No such file or
                    directory"} (also "cannot change directory to ..." and "bad START request: ...")
    0x12 STDOUT     id = pid, raw bytes (all of a pty's output)
    0x13 STDERR     id = pid, raw bytes
    0x14 EXIT       id = pid, JSON {"exit_code": N, "signal": S} (128 + S when a signal killed it, S = 0
                    otherwise), once it was reaped and what its pipes held then was forwarded; a pty's
                    output is awaited until the terminal closes (at most PTY_EXIT_GRACE). Output that a
                    background child still writes to the inherited pipes or terminal keeps coming with the
                    same id until EOF.
    0x15 CELL_EVENT id = kernel pid, JSON: one message of jaild_kernel.py, verbatim, sent after what the
                    kernel's stdout and stderr held, so that a cell's output always precedes its result.

A started process leads its own session and process group (setsid); with "pty" the terminal's slave is its
fds 0, 1, 2 and controlling terminal, of the size asked; otherwise fds 0, 1, 2 are pipes (stdin at EOF
from the start when "stdin" is false); "kernel" adds a socket pair on its fd 3 (the cell channel). Every
other fd is closed (all of the agent's are CLOEXEC), every signal has its default action and none is
blocked (glibc's two internal ones, 32 and 33, stay ignored), the cwd is the request's; then argv[0] is
executed, looked up in the env's PATH when it has no '/'. The agent starts it with glibc's posix_spawn
(clone with CLONE_VM | CLONE_VFORK: no copy of the agent's memory, about half the time of a fork from
Python), which hands an exec failure's errno back to the agent: it becomes STARTED's error text.
Children are reaped through a pidfd each, so only the agent's own. When fd 3 ends, the agent SIGKILLs the
process group of every process it started whose group still has members.

This file only sends READY: Python compiles a script whole before running it, so the loop lives in
jaild_agent_loop.py, imported (from its installed .pyc when there is one) once READY is out.
"""

import os

CONTROL_FD = 3


def main():
    for fd in (0, 1, 2):  # the pipes of children must not land on 0, 1, 2 (the child's dup2 order)
        try:
            os.fstat(fd)
        except OSError:
            os.open("/dev/null", os.O_RDWR)
    os.set_inheritable(CONTROL_FD, False)  # no child may inherit jaild's channel
    os.closerange(CONTROL_FD + 1, 1 << 16)  # nor anything else jaild's side may have left open
    ready = b'{"pid": %d}' % os.getpid()
    view = memoryview((len(ready) + 5).to_bytes(4, "big") + b"\x10" + bytes(4) + ready)  # READY, id 0
    while view:
        view = view[os.write(CONTROL_FD, view):]
    import sys
    sys.dont_write_bytecode = True  # /opt/jaild is read-only; a .pyc the installation made is still used
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # python3 -I leaves the script's out
    import jaild_agent_loop
    jaild_agent_loop.main()


if __name__ == "__main__":
    main()
