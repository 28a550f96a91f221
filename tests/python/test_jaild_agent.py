"""languages/support/jaild_agent.py, driven over its fd 3 as jaild drives it.

Each test starts the agent as jaild does (`python3 -I -S jaild_agent.py`, a socket pair on fd 3) and speaks
its framing: it starts real programs (pipes and terminals), writes their input, signals and resizes them,
and checks the bytes, exits and answers that come back, then that nothing the agent started is left.

Run with Debian's interpreter: /usr/bin/python3 tests/python/test_jaild_agent.py
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

PYTHON = "/usr/bin/python3"
SUPPORT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "languages",
                                        "support"))
AGENT = os.path.join(SUPPORT, "jaild_agent.py")
PATH = "/usr/local/bin:/usr/bin:/bin"
ENV = [f"PATH={PATH}", "LANG=C.UTF-8", "HOME=/tmp"]
TIMEOUT = 20  # seconds any single answer may take on a loaded machine

START, STDIN, EOF, SIGNAL, RESIZE, CELL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
READY, STARTED, STDOUT, STDERR, EXIT, CELL_EVENT = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15


def frame(kind, ident, payload=b""):
    if not isinstance(payload, bytes):
        payload = json.dumps(payload).encode()
    return (len(payload) + 5).to_bytes(4, "big") + bytes((kind,)) + ident.to_bytes(4, "big") + payload


def process_state(pid):
    """The state letter of /proc/PID/stat, or None when the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0].decode()
    except FileNotFoundError:
        return None


def dead(pid):
    return process_state(pid) in (None, "Z", "X")


def wait_until(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Agent:
    """A running agent and jaild's side of its fd 3; frames are kept per id as they arrive."""

    def __init__(self, agent=AGENT, **popen):
        ours, theirs = socket.socketpair()
        self.started_at = time.perf_counter()
        # fd 3 of the agent: dup2 in the child, and no closing of inherited fds (Python's are CLOEXEC).
        self.stderr = tempfile.TemporaryFile()  # the agent writes there only about its own bugs
        self.proc = subprocess.Popen([PYTHON, "-I", "-S", agent], stdin=subprocess.DEVNULL, close_fds=False,
                                     stderr=self.stderr, preexec_fn=lambda: os.dup2(theirs.fileno(), 3), **popen)
        theirs.close()
        self.sock = ours
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.frames = []  # (type, id, payload) not yet taken
        self.requests = 0
        kind, ident, payload = self.next_frame()
        self.ready_ms = (time.perf_counter() - self.started_at) * 1000
        assert (kind, ident) == (READY, 0), (kind, ident, payload)
        self.pid = json.loads(payload)["pid"]

    def close(self):
        """Closes fd 3's other end: the agent's exit status (it must have written nothing on stderr)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        try:
            status = self.proc.wait(TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.stderr.seek(0)
        errors = self.stderr.read().decode(errors="replace")
        self.stderr.close()
        assert errors == "", f"the agent's stderr: {errors}"
        return status

    def send(self, kind, ident, payload=b""):
        self.sock.sendall(frame(kind, ident, payload))

    def next_frame(self):
        while True:
            if len(self.buf) >= 4:
                size = int.from_bytes(self.buf[:4], "big")
                if len(self.buf) >= 4 + size:
                    data, self.buf = self.buf[:4 + size], self.buf[4 + size:]
                    return data[4], int.from_bytes(data[5:9], "big"), data[9:]
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("the agent closed fd 3")
            self.buf += chunk

    def take(self, match):
        """The first frame (kept or new) for which match(type, id, payload) is true."""
        for i, item in enumerate(self.frames):
            if match(*item):
                return self.frames.pop(i)
        while True:
            item = self.next_frame()
            if match(*item):
                return item
            self.frames.append(item)

    def start(self, argv, env=ENV, cwd="/tmp", pty=None, stdin=True, kernel=False):
        """START's answer: {"pid": N} or {"error": ...}."""
        self.requests += 1
        ident = self.requests
        self.send(START, ident, {"argv": argv, "env": env, "cwd": cwd, "pty": pty, "stdin": stdin,
                                 "kernel": kernel})
        return json.loads(self.take(lambda k, i, p: k == STARTED and i == ident)[2])

    def spawn(self, argv, **kwargs):
        answer = self.start(argv, **kwargs)
        assert "pid" in answer, answer
        return answer["pid"]

    def output(self, pid, kinds=(STDOUT,), until=None):
        """Output bytes of pid (of the given kinds) until `until` is in them."""
        data = b""
        while until not in data:
            data += self.take(lambda k, i, p: k in kinds and i == pid)[2]
        return data

    def finish(self, pid):
        """(stdout, stderr, exit) of pid: everything up to its EXIT frame."""
        out, err = b"", b""
        while True:
            kind, _, payload = self.take(lambda k, i, p: i == pid and k in (STDOUT, STDERR, EXIT))
            if kind == EXIT:
                return out, err, json.loads(payload)
            if kind == STDOUT:
                out += payload
            else:
                err += payload


class AgentTest(unittest.TestCase):
    def setUp(self):
        self.agent = Agent()

    def tearDown(self):
        self.assertEqual(self.agent.close(), 0)

    def run_program(self, argv, stdin_data=None, **kwargs):
        pid = self.agent.spawn(argv, **kwargs)
        if stdin_data is not None:
            self.agent.send(STDIN, pid, stdin_data)
            self.agent.send(EOF, pid)
        return self.agent.finish(pid)


class Basics(AgentTest):
    def test_ready_names_the_agent(self):
        self.assertEqual(self.agent.pid, self.agent.proc.pid)

    def test_echo(self):
        self.assertEqual(self.run_program(["echo", "hi"], stdin=False), (b"hi\n", b"", {"exit_code": 0, "signal": 0}))

    def test_stdout_stderr_and_exit_code(self):
        out, err, status = self.run_program(["sh", "-c", "echo out; echo err >&2; exit 3"])
        self.assertEqual((out, err, status), (b"out\n", b"err\n", {"exit_code": 3, "signal": 0}))

    def test_output_of_every_size_arrives_whole_before_exit(self):
        program = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 8192); sys.stderr.write('e' * 70000)"
        out, err, status = self.run_program([PYTHON, "-c", program])
        self.assertEqual((out, err, status["exit_code"]), (bytes(range(256)) * 8192, b"e" * 70000, 0))

    def test_exec_failures_are_answered(self):
        self.assertEqual(self.agent.start(["no-such-program-x"]),
                         {"error": "cannot execute \"no-such-program-x\": No such file or directory"})
        self.assertEqual(self.agent.start(["/tmp"]), {"error": "cannot execute \"/tmp\": Permission denied"})
        self.assertEqual(self.agent.start(["/no/such/dir/prog"]),
                         {"error": "cannot execute \"/no/such/dir/prog\": No such file or directory"})
        self.assertEqual(self.agent.start(["true"], cwd="/no/such/dir"),
                         {"error": "cannot change directory to \"/no/such/dir\": No such file or directory"})
        self.assertEqual(self.run_program(["echo", "still"]), (b"still\n", b"", {"exit_code": 0, "signal": 0}))

    def test_path_of_the_env_and_cwd(self):
        with tempfile.TemporaryDirectory() as directory:
            program = os.path.join(directory, "my-tool")
            with open(program, "w") as f:
                f.write("#!/bin/sh\necho \"tool in $(pwd) X=$X\"\n")
            os.chmod(program, 0o755)
            out, _, status = self.run_program(["my-tool"], env=[f"PATH=/nowhere:{directory}:/bin", "X=1"],
                                              cwd=directory)
            self.assertEqual((out, status["exit_code"]), (f"tool in {directory} X=1\n".encode(), 0))
            self.assertIn("error", self.agent.start(["my-tool"], env=["PATH=/bin"]))

    def test_child_environment(self):
        """Own session, default signal actions, nothing blocked, no fd but 0, 1, 2, environment as given."""
        program = ("import os; print(os.getsid(0) == os.getpid(), os.getpgid(0) == os.getpid()); "
                   "print(sorted(int(fd) for fd in os.listdir('/proc/self/fd'))); print(sorted(os.environ))")
        out, _, status = self.run_program([PYTHON, "-I", "-S", "-c", program], env=["PATH=/bin", "ONLY=1"])
        self.assertEqual(status["exit_code"], 0)
        lines = out.decode().splitlines()
        self.assertEqual(lines[0], "True True")
        self.assertEqual(lines[1], "[0, 1, 2, 3]")  # 3: listdir's own directory
        self.assertEqual(lines[2], "['LC_CTYPE', 'ONLY', 'PATH']")  # LC_CTYPE: Python's C-locale coercion
        # Not Python here: it ignores SIGPIPE and SIGXFSZ itself, as the agent does. glibc's posix_spawn
        # leaves its two internal signals (32 and 33, which no program can name) ignored in the child.
        out, _, status = self.run_program(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
        fields = out.decode().split()
        self.assertEqual(fields[0::2], ["SigBlk:", "SigIgn:"])
        self.assertEqual([int(mask, 16) & ~(3 << 31) for mask in fields[1::2]], [0, 0])


class Input(AgentTest):
    def test_stdin_and_eof(self):
        pid = self.agent.spawn(["cat"])
        self.agent.send(STDIN, pid, b"hello ")
        self.assertEqual(self.agent.output(pid, until=b"hello "), b"hello ")
        self.agent.send(STDIN, pid, b"world\n")
        self.agent.send(EOF, pid)
        self.assertEqual(self.agent.finish(pid), (b"world\n", b"", {"exit_code": 0, "signal": 0}))

    def test_stdin_closed_from_the_start(self):
        self.assertEqual(self.run_program(["cat"], stdin=False), (b"", b"", {"exit_code": 0, "signal": 0}))

    def test_large_input_is_queued_not_blocking(self):
        """8 MiB through cat: the agent must keep reading cat's output while cat's input is full."""
        data = os.urandom(1 << 20) * 8
        pid = self.agent.spawn(["cat"])

        def send():  # as jaild does: writing while it reads
            for offset in range(0, len(data), 1 << 20):
                self.agent.send(STDIN, pid, data[offset:offset + (1 << 20)])
            self.agent.send(EOF, pid)
        sender = threading.Thread(target=send)
        sender.start()
        out, err, status = self.agent.finish(pid)
        sender.join()
        self.assertEqual((len(out), out == data, status["exit_code"]), (len(data), True, 0))

    def test_input_to_a_program_that_stopped_reading(self):
        pid = self.agent.spawn(["sh", "-c", "exec 0<&-; sleep 0.2; echo done"])
        self.agent.send(STDIN, pid, b"x" * 200000)
        self.agent.send(EOF, pid)
        self.assertEqual(self.agent.finish(pid), (b"done\n", b"", {"exit_code": 0, "signal": 0}))


class Signals(AgentTest):
    def test_sigterm(self):
        pid = self.agent.spawn(["sleep", "30"])
        self.agent.send(SIGNAL, pid, {"signal": 15})
        self.assertEqual(self.agent.finish(pid), (b"", b"", {"exit_code": 143, "signal": 15}))

    def test_signal_reaches_the_whole_group(self):
        pid = self.agent.spawn(["sh", "-c", "sleep 30 & echo $!; wait"])
        sleeper = int(self.agent.output(pid, until=b"\n"))
        self.agent.send(SIGNAL, pid, {"signal": 9})
        self.assertEqual(self.agent.finish(pid)[2], {"exit_code": 137, "signal": 9})
        self.assertTrue(wait_until(lambda: dead(sleeper)), "the group's other process survived")

    def test_sigint_to_a_handler(self):
        program = ("import signal, sys, time\nsignal.signal(signal.SIGINT, lambda *a: sys.exit(7))\n"
                   "print('ready', flush=True)\ntime.sleep(30)")
        pid = self.agent.spawn([PYTHON, "-c", program])
        self.agent.output(pid, until=b"ready\n")
        self.agent.send(SIGNAL, pid, {"signal": 2})
        self.assertEqual(self.agent.finish(pid)[2], {"exit_code": 7, "signal": 0})


class Terminals(AgentTest):
    def test_shell_through_a_pty(self):
        pid = self.agent.spawn(["sh", "-i"], env=ENV + ["PS1=$ "], pty={"rows": 24, "cols": 80})
        self.agent.send(STDIN, pid, b"stty size; tty; test -t 0 && echo IS-A-$((6 * 7))\n")
        out = self.agent.output(pid, until=b"IS-A-42\r\n")
        self.assertIn(b"24 80\r\n", out)
        self.assertIn(b"/dev/pts/", out)
        self.agent.send(RESIZE, pid, {"rows": 40, "cols": 100})
        self.agent.send(STDIN, pid, b"stty size\n")
        self.agent.output(pid, until=b"40 100\r\n")
        self.agent.send(EOF, pid)  # ^D at the prompt ends the shell
        self.assertEqual(self.agent.finish(pid)[2], {"exit_code": 0, "signal": 0})

    def test_python_repl_through_a_pty(self):
        pid = self.agent.spawn([PYTHON, "-I", "-q", "-i"], pty={"rows": 30, "cols": 90})
        self.agent.output(pid, until=b">>> ")
        self.agent.send(STDIN, pid, b"import os; print(6 * 7, os.get_terminal_size())\n")
        out = self.agent.output(pid, until=b">>> ")
        self.assertIn(b"42 os.terminal_size(columns=90, lines=30)", out)
        self.agent.send(EOF, pid)
        self.assertEqual(self.agent.finish(pid)[2], {"exit_code": 0, "signal": 0})

    def test_ctrl_c_through_the_terminal(self):
        """^C written to the terminal: the line discipline signals the foreground group (a controlling tty)."""
        for _ in range(5):
            pid = self.agent.spawn(["sh", "-c", "trap 'echo got-INT; exit 5' INT; echo ready; "
                                                "while :; do sleep 0.05; done"], pty={"rows": 24, "cols": 80})
            self.agent.output(pid, until=b"ready\r\n")
            self.agent.send(STDIN, pid, b"\x03")
            out, _, status = self.agent.finish(pid)
            self.assertIn(b"got-INT\r\n", out)
            self.assertEqual(status, {"exit_code": 5, "signal": 0})

    def test_pty_output_before_exit(self):
        """The last bytes a terminal program writes arrive before its EXIT."""
        for _ in range(5):
            pid = self.agent.spawn(["sh", "-c", "printf 'last words'"], pty={"rows": 24, "cols": 80})
            self.assertEqual(self.agent.finish(pid), (b"last words", b"", {"exit_code": 0, "signal": 0}))

    def test_resize_of_a_pipe_process_is_ignored(self):
        pid = self.agent.spawn(["cat"])
        self.agent.send(RESIZE, pid, {"rows": 10, "cols": 10})
        self.agent.send(STDIN, pid, b"fine\n")
        self.agent.send(EOF, pid)
        self.assertEqual(self.agent.finish(pid)[0], b"fine\n")


class Several(AgentTest):
    def test_two_processes_at_once(self):
        script = "for i in 1 2 3; do echo {0}$i; sleep 0.05; done"
        first = self.agent.spawn(["sh", "-c", script.format("A")])
        second = self.agent.spawn(["sh", "-c", script.format("B")])
        self.assertEqual(self.agent.finish(second), (b"B1\nB2\nB3\n", b"", {"exit_code": 0, "signal": 0}))
        self.assertEqual(self.agent.finish(first), (b"A1\nA2\nA3\n", b"", {"exit_code": 0, "signal": 0}))

    def test_background_output_after_exit(self):
        """A double-forked child that keeps the pipe: EXIT comes, then its output with the same id."""
        pid = self.agent.spawn(["sh", "-c", "(sleep 0.3; echo late) & echo early"])
        self.assertEqual(self.agent.finish(pid), (b"early\n", b"", {"exit_code": 0, "signal": 0}))
        self.assertEqual(self.agent.output(pid, until=b"late\n"), b"late\n")

    def test_double_forked_daemon_keeps_forwarding(self):
        """A grandchild in a session of its own (setsid, double fork) still writes to the inherited pipes."""
        pid = self.agent.spawn(["sh", "-c", "setsid sh -c 'sleep 0.3; echo detached; echo err >&2' & echo parent"])
        self.assertEqual(self.agent.finish(pid), (b"parent\n", b"", {"exit_code": 0, "signal": 0}))
        self.assertEqual(self.agent.output(pid, until=b"detached\n"), b"detached\n")
        self.assertEqual(self.agent.output(pid, kinds=(STDERR,), until=b"err\n"), b"err\n")

    def test_many_in_a_row(self):
        times = []
        for i in range(30):
            begin = time.perf_counter()
            self.assertEqual(self.run_program(["echo", str(i)], stdin=False)[0], f"{i}\n".encode())
            times.append((time.perf_counter() - begin) * 1000)
        print(f"\nagent: READY after {self.agent.ready_ms:.1f} ms; START `echo` to EXIT, median of 30: "
              f"{statistics.median(times):.2f} ms", file=sys.stderr)


class Kernels(AgentTest):
    """The cell channel with a stand-in kernel: the agent's part, whatever the interpreter."""

    KERNEL = r"""
import os, sys
def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = os.read(3, n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data
while True:
    size = int.from_bytes(read_exact(4), "big")
    body = read_exact(size)
    code = body[5:].decode()
    print("printed " + code, flush=True)
    sys.stderr.write("warned\n"); sys.stderr.flush()
    event = ('{"type": "end", "echo": "%s"}' % code).encode()
    os.write(3, (len(event) + 5).to_bytes(4, "big") + b"\x15" + bytes(4) + event)
"""

    def test_cell_frames_and_ordering(self):
        pid = self.agent.spawn([PYTHON, "-I", "-S", "-c", self.KERNEL], kernel=True)
        for n in range(20):
            self.agent.send(CELL, pid, f"cell{n}".encode())
            seen = []
            while not seen or seen[-1][0] != CELL_EVENT:
                seen.append(self.agent.take(lambda k, i, p: i == pid and k in (STDOUT, STDERR, CELL_EVENT)))
            out = b"".join(p for k, _, p in seen if k == STDOUT)
            err = b"".join(p for k, _, p in seen if k == STDERR)
            self.assertEqual((out, err), (f"printed cell{n}\n".encode(), b"warned\n"))
            self.assertEqual(json.loads(seen[-1][2]), {"type": "end", "echo": f"cell{n}"})
        self.agent.send(SIGNAL, pid, {"signal": 15})
        self.assertEqual(self.agent.finish(pid)[2], {"exit_code": 143, "signal": 15})

    def test_only_kernels_get_fd_3(self):
        program = "import os, stat; print(stat.S_ISSOCK(os.fstat(3).st_mode))"
        self.assertEqual(self.run_program([PYTHON, "-I", "-S", "-c", program], kernel=True)[0], b"True\n")
        out, err, _ = self.run_program([PYTHON, "-I", "-S", "-c", program])
        self.assertIn(b"Bad file descriptor", err)

    def test_cell_to_a_non_kernel_is_ignored(self):
        pid = self.agent.spawn(["cat"])
        self.agent.send(CELL, pid, b'{"code": "1"}')
        self.agent.send(EOF, pid)
        self.assertEqual(self.agent.finish(pid), (b"", b"", {"exit_code": 0, "signal": 0}))


class BadFrames(AgentTest):
    def test_bad_frames_are_ignored_and_bad_starts_answered(self):
        agent = self.agent
        agent.send(0x7F, 1, b"unknown type")
        agent.send(STDIN, 999999, b"to nobody")
        agent.send(EOF, 999999)
        agent.send(SIGNAL, 999999, {"signal": 9})
        agent.send(RESIZE, 999999, {"rows": 1, "cols": 1})
        agent.send(CELL, 999999, b"{}")
        pid = agent.spawn(["cat"])
        agent.send(SIGNAL, pid, b"not json")
        agent.send(SIGNAL, pid, {"signal": "SIGKILL"})
        agent.send(SIGNAL, pid, {"signal": 100000})
        agent.send(RESIZE, pid, b"[]")
        agent.sock.sendall(b"\x00\x00\x00\x03abc")  # shorter than type + id: skipped whole
        agent.sock.sendall((5 + (1 << 20) + 1).to_bytes(4, "big") + bytes(5 + (1 << 20) + 1))  # too long
        for payload, error in ((b"{", "bad START request: not JSON"), (b"[]", "bad START request: not a JSON object"),
                               ({"argv": []}, "bad START request: argv must be a non-empty list of strings"),
                               ({"argv": "ls"}, "bad START request: argv must be a non-empty list of strings"),
                               ({"argv": ["ls"], "env": "A=1"}, "bad START request: env must be"),
                               ({"argv": ["ls\0x"]}, "bad START request: argv, env and cwd must not contain NUL"),
                               ({"argv": ["ls"], "pty": {"rows": 0, "cols": 80}},
                                "bad START request: pty rows and cols")):
            agent.send(START, 77, payload)
            answer = json.loads(agent.take(lambda k, i, p: k == STARTED and i == 77)[2])
            self.assertTrue(answer.get("error", "").startswith(error), (payload, answer))
        agent.send(STDIN, pid, b"alive\n")
        agent.send(EOF, pid)
        self.assertEqual(agent.finish(pid), (b"alive\n", b"", {"exit_code": 0, "signal": 0}))
        self.assertEqual(self.run_program(["echo", "ok"])[0], b"ok\n")


class Ending(unittest.TestCase):
    def test_eof_on_fd_3_kills_the_processes_and_ends_the_agent(self):
        agent = Agent()
        plain = agent.spawn(["sleep", "1000"])
        group = agent.spawn(["sh", "-c", "sleep 1000 & echo $!; wait"])
        grandchild = int(agent.output(group, until=b"\n"))
        terminal = agent.spawn(["sleep", "1000"], pty={"rows": 5, "cols": 5})
        # Its leader gone and its output closed, the agent forgot this process but not its group.
        quiet = agent.spawn(["sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"])
        out, _, status = agent.finish(quiet)
        detached = int(out)
        self.assertEqual(status["exit_code"], 0)
        self.assertEqual(agent.close(), 0)
        for pid in (plain, group, grandchild, terminal, detached):
            self.assertTrue(wait_until(lambda: dead(pid)), f"pid {pid} outlived the agent")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the agent as another uid")
    def test_non_dumpable(self):
        """A process of the agent's own uid cannot open the agent's fds or memory through /proc."""
        # The agent's scripts where uid 65534 may read them, whatever the checkout's directories allow.
        scripts = tempfile.mkdtemp(prefix="jaild-agent-")
        self.addCleanup(shutil.rmtree, scripts, True)
        os.chmod(scripts, 0o755)
        for name in ("jaild_agent.py", "jaild_agent_loop.py"):
            shutil.copy(os.path.join(SUPPORT, name), scripts)
            os.chmod(os.path.join(scripts, name), 0o644)
        agent = Agent(os.path.join(scripts, "jaild_agent.py"), user=65534, group=65534, extra_groups=[], cwd="/")
        try:
            program = (f"import os\nfor p in ('/proc/{agent.pid}/fd/3', '/proc/{agent.pid}/mem', "
                       f"'/proc/{agent.pid}/environ'):\n"
                       "    try:\n        os.close(os.open(p, os.O_RDONLY)); print('OPENED', p)\n"
                       "    except PermissionError:\n        print('denied')\n"
                       f"print(os.stat('/proc/{agent.pid}/mem').st_uid)")
            out, err, status = (agent.spawn([PYTHON, "-I", "-S", "-c", program], cwd="/"), None, None)
            out, err, status = agent.finish(out)
            self.assertEqual((out, err, status["exit_code"]), (b"denied\ndenied\ndenied\n0\n", b"", 0))
        finally:
            self.assertEqual(agent.close(), 0)


if __name__ == "__main__":
    unittest.main()
