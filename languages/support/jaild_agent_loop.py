"""The loop of jaild_agent.py, the process manager of a live session's sandbox.

jaild_agent.py sends READY and imports this module; its docstring describes the protocol on fd 3 and what a
started process gets. Here: the framing, the epoll loop, the start of processes (posix_spawn), their
output, input, signals, terminals, cell channels and exits.
"""


import _json
import _signal
import os
import select
import sys
import time

# The json module imports re and enum: milliseconds the first START would wait for. The agent parses with
# the C scanner json itself uses (json_loads) and imports json only to explain a text that does not parse.

CONTROL_FD = 3
MAX_PAYLOAD = 1 << 20
READ_CHUNK = 65536
# A drain (before an EXIT or a cell event) reads at most this many chunks of a stream: a pipe holds 64 KiB.
DRAIN_CHUNKS = 8
PTY_EXIT_GRACE = 0.1  # seconds an exited pty program's terminal may take to deliver its last output

START, STDIN, EOF, SIGNAL, RESIZE, CELL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
STARTED, STDOUT, STDERR, EXIT, CELL_EVENT = 0x11, 0x12, 0x13, 0x14, 0x15


def frame(kind, ident, payload):
    return (len(payload) + 5).to_bytes(4, "big") + bytes((kind,)) + (ident & 0xFFFFFFFF).to_bytes(4, "big") + payload


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FrameReader:
    """Cuts a byte stream into (type, id, payload) frames; a frame of impossible length is skipped."""

    def __init__(self):
        self.buf = bytearray()
        self.skip = 0

    def feed(self, data):
        buf = self.buf
        buf += data
        frames = []
        while True:
            if self.skip:
                n = min(self.skip, len(buf))
                del buf[:n]
                self.skip -= n
                if self.skip:
                    return frames
            if len(buf) < 4:
                return frames
            size = int.from_bytes(buf[:4], "big")
            if size < 5 or size > 5 + MAX_PAYLOAD:
                del buf[:4]
                self.skip = size
                continue
            if len(buf) < 4 + size:
                return frames
            frames.append((buf[4], int.from_bytes(buf[5:9], "big"), bytes(buf[9:4 + size])))
            del buf[:4 + size]


class Loop:
    """Level-triggered epoll: a read and a write callback per fd."""

    def __init__(self):
        self.epoll = select.epoll()
        self.readers = {}
        self.writers = {}
        self.masks = {}

    def _update(self, fd):
        mask = (select.EPOLLIN if fd in self.readers else 0) | (select.EPOLLOUT if fd in self.writers else 0)
        old = self.masks.get(fd)
        if old == mask or (old is None and not mask):
            return
        if not mask:
            del self.masks[fd]
            self.epoll.unregister(fd)
        elif old is None:
            self.epoll.register(fd, mask)
            self.masks[fd] = mask
        else:
            self.epoll.modify(fd, mask)
            self.masks[fd] = mask

    def set_reader(self, fd, callback):
        if callback is None:
            self.readers.pop(fd, None)
        else:
            self.readers[fd] = callback
        self._update(fd)

    def set_writer(self, fd, callback):
        if callback is None:
            self.writers.pop(fd, None)
        else:
            self.writers[fd] = callback
        self._update(fd)

    def close(self, fd):
        """Forgets fd and closes it."""
        self.readers.pop(fd, None)
        self.writers.pop(fd, None)
        if self.masks.pop(fd, None) is not None:
            self.epoll.unregister(fd)
        os.close(fd)

    def poll(self, timeout):
        ready = self.epoll.poll(timeout)
        for fd, events in ready:
            # A callback may have closed this fd (and a new one may reuse its number): callbacks read and
            # write non-blocking fds and take EAGAIN as "nothing yet".
            if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                callback = self.readers.get(fd)
                if callback is not None:
                    guarded(callback)
            if events & (select.EPOLLOUT | select.EPOLLERR):
                callback = self.writers.get(fd)
                if callback is not None:
                    guarded(callback)


def guarded(callback, *args):
    """Runs a callback; a bug in one process's handling must not end the others: it is reported on stderr."""
    try:
        callback(*args)
    except Exception as exc:  # noqa: BLE001 - the agent never dies of one frame or one process
        note(f"jaild_agent: {type(exc).__name__}: {exc}")


def note(text):
    try:
        os.write(2, (text + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


class Queue:
    """Bytes waiting for a non-blocking fd (a child's stdin, a kernel's cell channel)."""

    def __init__(self, loop, fd, on_broken):
        self.loop = loop
        self.fd = fd
        self.data = bytearray()
        self.on_broken = on_broken  # the reader is gone (EPIPE): what it did not read is dropped
        self.on_drained = None

    def push(self, data):
        self.data += data
        self.flush()

    def flush(self):
        try:
            while self.data:
                del self.data[:os.write(self.fd, self.data[:READ_CHUNK])]
        except BlockingIOError:
            self.loop.set_writer(self.fd, self.flush)
            return
        except OSError:
            self.data.clear()
            self.loop.set_writer(self.fd, None)
            self.on_broken()
            return
        self.loop.set_writer(self.fd, None)
        if self.on_drained is not None:
            self.on_drained()


class Plumbing:
    """The fds of one start: the child's ends (closed in the agent once it started) and the agent's."""

    def __init__(self, request):
        self.child_ends = []
        self.ours = []
        self.streams = {}  # the agent's read ends: fd -> STDOUT | STDERR
        self.stdin = self.pty = self.cell = None
        self.actions = []  # posix_spawn's file actions: the child's fds 0, 1, 2 (and 3)
        try:
            self.open(request)
        except BaseException:
            self.close_all()
            raise

    def open(self, request):
        pty = request["pty"]
        if pty is not None:
            self.pty, slave = self.pair(os.openpty())  # the slave is opened with O_NOCTTY
            Agent.set_window(self.pty, pty["rows"], pty["cols"])
            # Opened again by the child after setsid, without O_NOCTTY: a session leader without a
            # controlling terminal that opens a terminal gets it as its controlling terminal (what TIOCSCTTY
            # does). The agent's own slave fd stays open until then, so the terminal never sees a hangup.
            self.actions = [(os.POSIX_SPAWN_OPEN, 0, os.ttyname(slave), os.O_RDWR, 0),
                            (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
            self.streams[self.pty] = STDOUT
            if request["stdin"]:
                self.stdin = self.pty
        else:
            self.stdin, stdin_r = self.pair(os.pipe()[::-1])
            if not request["stdin"]:  # the child reads EOF from the start
                self.ours.remove(self.stdin)
                os.close(self.stdin)
                self.stdin = None
            out_r, out_w = self.pair(os.pipe())
            err_r, err_w = self.pair(os.pipe())
            self.streams = {out_r: STDOUT, err_r: STDERR}
            # main() keeps 0, 1 and 2 open, so these fds are all above 2 and no dup2 undoes another.
            self.actions = [(os.POSIX_SPAWN_DUP2, stdin_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                            (os.POSIX_SPAWN_DUP2, err_w, 2)]
        if request["kernel"]:
            import _socket
            self.cell, child_cell = self.pair(
                [s.detach() for s in _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)])
            self.actions.append((os.POSIX_SPAWN_DUP2, child_cell, 3))

    def pair(self, fds):
        """(the agent's end, the child's end), both recorded for closing."""
        ours, theirs = fds
        self.ours.append(ours)
        self.child_ends.append(theirs)
        return ours, theirs

    def close_child_ends(self):
        for fd in self.child_ends:
            os.close(fd)
        self.child_ends = []

    def close_all(self):
        self.close_child_ends()
        for fd in self.ours:
            os.close(fd)
        self.ours = []

    def ready(self):
        """Once the program runs: the agent's ends become non-blocking."""
        self.close_child_ends()
        for fd in self.ours:
            os.set_blocking(fd, False)


class Process:
    """One started process: its output fds, stdin queue, pty, cell channel and pidfd."""

    def __init__(self, agent, pid, pidfd, plumbing):
        self.agent = agent
        self.pid = pid
        self.pidfd = pidfd
        self.streams = plumbing.streams  # fd -> STDOUT | STDERR
        self.pty_fd = plumbing.pty
        self.cell_fd = plumbing.cell
        self.cell_reader = FrameReader()
        self.cell_queue = None
        self.stdin = None
        self.stdin_eof = False
        self.status = None  # (exit_code, signal) once reaped
        self.exit_sent = False
        self.exit_deadline = None
        loop = agent.loop
        if plumbing.stdin is not None:
            self.stdin = Queue(loop, plumbing.stdin, self.stdin_broken)
        for fd in self.streams:
            loop.set_reader(fd, lambda fd=fd: self.read_stream(fd))
        if self.cell_fd is not None:
            self.cell_queue = Queue(loop, self.cell_fd, lambda: None)
            loop.set_reader(self.cell_fd, self.read_cell)
        loop.set_reader(pidfd, self.reap)

    # Output

    def read_stream(self, fd, drain=False):
        """Forwards one chunk (or, draining, what is there now, bounded: a writer that refills the pipe as
        fast as it is read must not keep the agent from its other work); closes the stream at EOF."""
        chunks = DRAIN_CHUNKS if drain else 1
        while fd in self.streams and chunks > 0:
            chunks -= 1
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:  # EIO: a pty whose slave side is closed everywhere
                data = b""
            if not data:
                self.close_stream(fd)
                return
            self.agent.send(self.streams[fd], self.pid, data)

    def close_stream(self, fd):
        del self.streams[fd]
        if fd == self.pty_fd:
            self.pty_fd = None
            if self.stdin is not None and self.stdin.fd == fd:
                self.stdin = None  # the same fd: nobody reads the terminal any more
        self.agent.loop.close(fd)
        self.maybe_finish()

    def drain(self):
        for fd in list(self.streams):
            self.read_stream(fd, drain=True)

    # Cell channel (kernels)

    def read_cell(self):
        try:
            data = os.read(self.cell_fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.agent.loop.close(self.cell_fd)
            self.cell_fd = None
            self.cell_queue = None
            self.maybe_finish()
            return
        for kind, _, payload in self.cell_reader.feed(data):
            if kind == CELL_EVENT:
                self.drain()  # what the cell printed goes first
                self.agent.send(CELL_EVENT, self.pid, payload)

    def send_cell(self, payload):
        if self.cell_queue is not None and self.status is None:
            self.cell_queue.push(frame(CELL, self.pid, payload))

    # Input

    def write_stdin(self, data):
        if self.stdin is not None and not self.stdin_eof:
            self.stdin.push(data)

    def close_stdin(self):
        if self.stdin is None or self.stdin_eof:
            return
        if self.stdin.fd == self.pty_fd:
            self.stdin.push(self.agent.veof(self.pty_fd))
            return
        self.stdin_eof = True
        if self.stdin.data:
            self.stdin.on_drained = self.stdin_broken
        else:
            self.stdin_broken()

    def stdin_broken(self):
        if self.stdin is not None and self.stdin.fd != self.pty_fd:
            self.agent.loop.close(self.stdin.fd)
            self.stdin = None

    # Exit

    def reap(self):
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            return
        self.agent.loop.close(self.pidfd)
        self.pidfd = None
        if os.WIFSIGNALED(status):
            self.status = (128 + os.WTERMSIG(status), os.WTERMSIG(status))
        else:
            self.status = (os.WEXITSTATUS(status), 0)
        self.drain()
        if self.cell_fd is not None:
            self.read_cell()  # its last events, if it wrote any before it died
        self.stdin_broken()
        if self.pty_fd is not None:
            self.exit_deadline = self.agent.now() + PTY_EXIT_GRACE
            self.agent.timers.add(self)
        self.maybe_finish()

    def maybe_finish(self, timed_out=False):
        """Sends EXIT once reaped and drained; forgets the process when nothing of it is left open."""
        if self.status is None:
            return
        if not self.exit_sent and (self.pty_fd is None or timed_out):
            self.exit_sent = True
            self.agent.timers.discard(self)
            code, sig = self.status
            self.agent.send(EXIT, self.pid, b'{"exit_code": %d, "signal": %d}' % (code, sig))
        if self.exit_sent and not self.streams and self.cell_fd is None and self.pid in self.agent.processes:
            del self.agent.processes[self.pid]
            if group_alive(self.pid):  # e.g. a background child that closed its output
                self.agent.lingering.add(self.pid)

    def kill(self):
        try:
            os.killpg(self.pid, 9)
        except OSError:
            pass
        if self.status is None:
            try:
                os.kill(self.pid, 9)
            except OSError:
                pass


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


class Agent:
    def __init__(self):
        self.loop = Loop()
        self.reader = FrameReader()
        self.processes = {}
        self.timers = set()  # processes waiting for their pty's last output
        # Process groups of forgotten processes that still had members: killed at the end too. The kernel
        # reuses no pid that still names a group, so these never name someone else's.
        self.lingering = set()
        self.running = True
        os.set_blocking(CONTROL_FD, True)  # writes to jaild may block briefly: it always reads
        self.loop.set_reader(CONTROL_FD, self.read_control)
        self.home = os.open(".", os.O_RDONLY | os.O_DIRECTORY)  # CLOEXEC, as every fd Python opens
        self.handlers = {START: self.start, STDIN: self.stdin, EOF: self.eof, SIGNAL: self.signal,
                         RESIZE: self.resize, CELL: self.cell}

    @staticmethod
    def now():
        return time.monotonic()

    def send(self, kind, ident, payload):
        try:
            write_all(CONTROL_FD, frame(kind, ident, payload))
        except OSError:  # EPIPE: jaild is gone, as EOF on fd 3 says
            self.running = False

    def run(self):
        while self.running:
            timeout = None
            if self.timers:
                timeout = max(0.0, min(p.exit_deadline for p in self.timers) - self.now())
            self.loop.poll(timeout)
            now = self.now()
            for process in [p for p in self.timers if p.exit_deadline <= now]:
                process.maybe_finish(timed_out=True)
        for process in list(self.processes.values()):
            process.kill()
        for pgid in self.lingering:
            try:
                os.killpg(pgid, 9)
            except OSError:
                pass

    def read_control(self):
        try:
            data = os.read(CONTROL_FD, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.running = False
            self.loop.set_reader(CONTROL_FD, None)
            return
        for kind, ident, payload in self.reader.feed(data):
            handler = self.handlers.get(kind)
            if handler is not None:
                guarded(handler, ident, payload)

    # Requests

    def start(self, ident, payload):
        try:
            request = parse_start(payload)
        except ValueError as exc:
            answer = {"error": f"bad START request: {exc}"}
        else:
            try:
                answer = self.spawn(request)
            except Exception as exc:  # noqa: BLE001 - a START is always answered
                answer = {"error": f"cannot start \"{request['argv'][0]}\": {exc}"}
        (key, text), = answer.items()
        value = str(text) if key == "pid" else _json.encode_basestring_ascii(text)
        self.send(STARTED, ident, f'{{"{key}": {value}}}'.encode())

    def spawn(self, request):
        """Starts the request's program; returns STARTED's answer."""
        argv, env, cwd = request["argv"], request["env"], request["cwd"]
        try:
            os.fchdir(self.home)  # a relative cwd is relative to the agent's own
            if cwd:
                os.chdir(cwd)  # the child inherits it (the agent is single-threaded and uses no relative path)
        except OSError as exc:
            return {"error": f"cannot change directory to \"{cwd}\": {exc.strerror}"}
        try:
            plumbing = Plumbing(request)
        except OSError as exc:
            return {"error": f"cannot start \"{argv[0]}\": {exc.strerror}"}
        # posix_spawnp looks argv[0] up in the agent's own PATH (as execvp does: the first entry that
        # executes; EACCES if one was found but none could run): the request's PATH becomes the agent's
        # for this call.
        if "PATH" in env:
            os.putenv("PATH", env["PATH"])
        else:
            os.unsetenv("PATH")
        try:
            # glibc's posix_spawn: clone(CLONE_VM | CLONE_VFORK), so no copy of the agent's memory; the
            # child applies setsid, the file actions, default signal actions and an empty mask, then
            # execve; it reports an exec failure's errno back (this OSError) and the parent returns once
            # the program runs or failed.
            pid = os.posix_spawnp(argv[0], argv, env, file_actions=plumbing.actions, setsid=True,
                                  setsigmask=(), setsigdef=ALL_SIGNALS)
        except OSError as exc:
            plumbing.close_all()
            return {"error": f"cannot execute \"{argv[0]}\": {exc.strerror}"}
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            plumbing.close_all()
            return {"error": f"cannot start \"{argv[0]}\": pidfd_open: {exc.strerror}"}
        plumbing.ready()
        self.processes[pid] = Process(self, pid, pidfd, plumbing)
        self.lingering = {pgid for pgid in self.lingering if group_alive(pgid)}
        return {"pid": pid}

    def stdin(self, pid, payload):
        process = self.processes.get(pid)
        if process is not None:
            process.write_stdin(payload)

    def eof(self, pid, payload):
        process = self.processes.get(pid)
        if process is not None:
            process.close_stdin()

    def signal(self, pid, payload):
        process = self.processes.get(pid)
        if process is None:
            return
        number = json_object(payload).get("signal")
        if type(number) is not int or not 0 < number < 65:
            return
        try:
            os.killpg(pid, number)
        except OSError:
            if process.status is None:
                try:
                    os.kill(pid, number)
                except OSError:
                    pass

    def resize(self, pid, payload):
        process = self.processes.get(pid)
        if process is None or process.pty_fd is None:
            return
        size = json_object(payload)
        rows, cols = size.get("rows"), size.get("cols")
        if type(rows) is int and type(cols) is int and 0 < rows < 65536 and 0 < cols < 65536:
            self.set_window(process.pty_fd, rows, cols)

    def cell(self, pid, payload):
        process = self.processes.get(pid)
        if process is not None:
            process.send_cell(payload)

    # Terminals

    @staticmethod
    def set_window(fd, rows, cols):
        import fcntl
        import termios
        size = rows.to_bytes(2, sys.byteorder) + cols.to_bytes(2, sys.byteorder) + bytes(4)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)

    @staticmethod
    def veof(fd):
        import termios
        return termios.tcgetattr(fd)[6][termios.VEOF]


def parse_start(payload):
    """START's JSON, checked: ValueError names what is wrong."""
    try:
        request = json_loads(payload)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if type(request) is not dict:
        raise ValueError("not a JSON object")
    argv = request.get("argv")
    if type(argv) is not list or not argv or not all(type(a) is str for a in argv) or not argv[0]:
        raise ValueError("argv must be a non-empty list of strings")
    env = request.get("env") or []
    if type(env) is not list or not all(type(e) is str for e in env):
        raise ValueError("env must be a list of \"KEY=value\" strings")
    cwd = request.get("cwd") or ""
    if type(cwd) is not str:
        raise ValueError("cwd must be a string")
    if any("\0" in s for s in argv + env + [cwd]):
        raise ValueError("argv, env and cwd must not contain NUL bytes")
    pty = request.get("pty")
    if pty is not None:
        if type(pty) is not dict:
            raise ValueError("pty must be {\"rows\": R, \"cols\": C} or null")
        rows, cols = pty.get("rows"), pty.get("cols")
        if type(rows) is not int or type(cols) is not int or not 0 < rows < 65536 or not 0 < cols < 65536:
            raise ValueError("pty rows and cols must be integers from 1 to 65535")
    environment = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep and key:
            environment[key] = value
    return {"argv": argv, "env": environment, "cwd": cwd, "pty": pty,
            "stdin": request.get("stdin", True) is not False, "kernel": request.get("kernel") is True}


class _ScannerContext:
    """The settings json.loads gives its C scanner by default."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


SCANNER = _json.make_scanner(_ScannerContext())


def json_loads(payload):
    """json.loads(payload) for the JSON jaild sends, without importing json unless the text is wrong."""
    try:
        text = payload.decode("utf-8").strip(" \t\n\r")
        value, end = SCANNER(text, 0)
        if end == len(text):
            return value
    except Exception:  # noqa: BLE001 - without json.decoder loaded the C scanner fails with SystemError
        pass
    import json
    return json.loads(payload)  # the same value or json's own ValueError naming the problem


def json_object(payload):
    """A frame's JSON object, or {} when it is not one (the frame is then ignored)."""
    try:
        value = json_loads(payload)
    except ValueError:
        return {}
    return value if type(value) is dict else {}


def set_non_dumpable():
    """prctl(PR_SET_DUMPABLE, 0): /proc/<agent>/mem, fd and environ become root's alone."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0)")


def main():
    """After READY: the rest of the start, then the loop until fd 3 ends."""
    global ALL_SIGNALS
    set_non_dumpable()  # before the first START is read: no process of the session runs before it
    ALL_SIGNALS = _signal.valid_signals()  # Python ignores SIGPIPE and SIGXFSZ; jaild may have ignored more
    Agent().run()
