"""jaild's Python kernel: the interpreter of a live session's interpreter context.

jaild_agent.py starts it in the session's sandbox, on the context's first cell, as

    python3 -I /opt/jaild/jaild_kernel.py        fd 3: the cell channel (a socket pair with the agent)

and runs cells through IPython's InteractiveShell (Debian's python3-ipython). Cells run one at a time in one
namespace: variables, imports and the cwd persist across cells and after errors.

The cell channel uses the agent's framing, u32 big-endian N | u8 type | u32 big-endian id | payload (N - 5
bytes, at most 1 MiB). The kernel reads

    0x06 CELL        JSON {"code": "..."}          (other frame types are ignored)

and answers each cell with 0x15 CELL_EVENT frames (id = its own pid; the agent puts the kernel's pid there
anyway), one JSON object each, in this order:

    {"type": "result", "text": ..., "html": ..., "png": base64, "jpeg": base64, "svg": ..., "markdown": ...,
     "latex": ..., "json": "JSON text", "javascript": ..., "is_main_result": bool}
        one per display() call and for the cell's own value (is_main_result), with the forms the object
        had (only those); then one per matplotlib figure still open at the cell's end, with "png" (the
        figure is then closed, as Jupyter's inline backend does; plt.show() shows and closes them at once
        once pyplot was imported by an earlier cell);
    {"type": "error", "name": "ZeroDivisionError", "value": "division by zero", "traceback": "..."}
        if the cell raised (KeyboardInterrupt when interrupted, SyntaxError, UsageError of a magic); the
        traceback is IPython's, as plain text (no ANSI colors);
    {"type": "end", "execution_count": N}
        always, last.

What the cell prints goes to the kernel's stdout and stderr (fds 1 and 2, line-buffered): the agent forwards
those as the process's output and drains them before it forwards an event, and the kernel flushes Python's
streams before each event, so what a cell printed before an event comes before that event (output printed
just after an event may overtake it). An event that would exceed 1 MiB loses its largest rich forms, then
its longest text is cut (a note on stderr says which). `!cmd` runs through IPython's system_raw: the
command's output is the kernel's fds 1 and 2 as they are, no pseudo-terminal. `%matplotlib inline` uses
Jupyter's inline backend (matplotlib_inline), which displays its figures through this shell.

SIGINT during a cell raises KeyboardInterrupt in it; SIGINT while the kernel waits for a cell is ignored.
The channel is moved off fd 3 and made non-inheritable, so programs a cell starts never get it. No history
file and no ~/.ipython: IPython's directories live in a temporary directory under $TMPDIR, removed once
the shell is up (what magics keep in IPython's db, %cd's history and %bookmark, stays in memory). python3 -I ignores PYTHON* variables; the kernel applies PYTHONPATH (after '', the cwd)
and PYTHONDONTWRITEBYTECODE itself. MPLBACKEND defaults to Agg and MPLCONFIGDIR to $TMPDIR/matplotlib.
The kernel ends when the channel reaches EOF, or after a cell that called exit().

IPython's package __init__ (the terminal application, prompt_toolkit) and the completer's jedi are not
imported at start: the first cell of a context is a cold start of this program and those would add a few
hundred ms to it (see import_interactiveshell).
"""

import base64
import io
import json
import os
import shutil
import signal
import sys
import tempfile

CHANNEL_FD = 3
MAX_PAYLOAD = 1 << 20
CELL, CELL_EVENT = 0x06, 0x15
MIME_FIELDS = (("text/plain", "text"), ("text/html", "html"), ("text/markdown", "markdown"),
               ("text/latex", "latex"), ("image/png", "png"), ("image/jpeg", "jpeg"), ("image/svg+xml", "svg"),
               ("application/json", "json"), ("application/javascript", "javascript"))
BINARY_FIELDS = ("png", "jpeg")
RICH_FIELDS = {field for _, field in MIME_FIELDS} - {"text"}


class Interrupts:
    """SIGINT: Python's KeyboardInterrupt while a cell runs, ignored while the kernel waits or starts.

    Python's own C handler raises it in the cell's code with no frame of the kernel in the traceback.
    While an event is being written, SIGINT is only recorded and raised after the write, so that no frame
    is ever cut short on the channel.
    """

    pending = False

    @staticmethod
    def idle():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    @staticmethod
    def running():
        signal.signal(signal.SIGINT, signal.default_int_handler)

    @classmethod
    def record(cls, signum, frame):
        cls.pending = True

    @classmethod
    def deferred(cls, write):
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            write()  # idle (ignored) or the cell's own handler
            return
        signal.signal(signal.SIGINT, cls.record)
        try:
            write()
        finally:
            signal.signal(signal.SIGINT, previous)
        if cls.pending:
            cls.pending = False
            raise KeyboardInterrupt


class Channel:
    """The framed cell channel (blocking: the agent always reads)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.pid = os.getpid()

    def read_frame(self):
        """(type, payload) of the next frame, or None at EOF."""
        while True:
            if len(self.buf) >= 4:
                size = int.from_bytes(self.buf[:4], "big")
                if size < 5 or size > 5 + MAX_PAYLOAD:
                    return None  # the agent never sends this: the channel is unusable
                if len(self.buf) >= 4 + size:
                    data, self.buf = self.buf[:4 + size], self.buf[4 + size:]
                    return data[4], data[9:]
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return None
            self.buf += chunk

    def send(self, event):
        """Flushes Python's stdout and stderr, then writes one event."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a cell may have left anything there
                pass
        payload = fit(event)
        data = (len(payload) + 5).to_bytes(4, "big") + bytes((CELL_EVENT,)) + self.pid.to_bytes(4, "big") + payload

        def write():
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        Interrupts.deferred(write)


def fit(event):
    """The event as JSON, at most MAX_PAYLOAD bytes: its largest rich forms go first, then the longest text is
    cut in half until it fits; a note on stderr says what."""
    payload = json.dumps(event).encode()
    changed = []
    while len(payload) > MAX_PAYLOAD:
        rich = [k for k in event if k in RICH_FIELDS]
        if rich:
            key = max(rich, key=lambda k: len(event[k]))
            del event[key]
        else:
            key = max((k for k in event if k != "type" and isinstance(event[k], str)), key=lambda k: len(event[k]))
            event[key] = event[key][:len(event[key]) // 2]
        changed.append(key)
        payload = json.dumps(event).encode()
    if changed:
        print(f"jaild_kernel: a {event['type']} was over the 1 MiB event limit; left out or cut: "
              f"{', '.join(sorted(set(changed)))}", file=sys.stderr, flush=True)
    return payload


def result_event(data, is_main):
    """A result event from IPython's mime bundle."""
    event = {"type": "result"}
    for mime, field in MIME_FIELDS:
        if mime not in data:
            continue
        value = data[mime]
        if field in BINARY_FIELDS:
            value = base64.b64encode(value).decode() if isinstance(value, bytes) else str(value).strip()
        elif field == "json":
            value = json.dumps(value)
        elif not isinstance(value, str):
            value = str(value)
        event[field] = value
    event["is_main_result"] = is_main
    return event


def prepare_process():
    """What python3 -I left out or the kernel must change before any cell runs."""
    channel = os.dup(CHANNEL_FD)  # non-inheritable, as every fd Python opens
    os.close(CHANNEL_FD)
    # Line-buffered text streams, as on a terminal: a print reaches the agent as one write of whole lines
    # (print writes its text and its newline apart), and whatever is left is flushed before each event.
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        stream = io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding=old.encoding,
                                  errors=old.errors, line_buffering=True)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    environ = os.environ
    paths = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[0:0] = [""] + paths
    if environ.get("PYTHONDONTWRITEBYTECODE"):
        sys.dont_write_bytecode = True
    sys.argv = [""]
    tmp = tempfile.gettempdir()
    environ.setdefault("MPLBACKEND", "Agg")
    environ.setdefault("MPLCONFIGDIR", os.path.join(tmp, "matplotlib"))
    return Channel(channel)


def import_interactiveshell():
    """IPython.core.interactiveshell without IPython/__init__.py's terminal and jedi imports.

    The package's __init__ imports the terminal application (prompt_toolkit) and the completer imports
    jedi: a few hundred ms the kernel never uses. The package module is created without running its
    __init__; the first attribute of it that a cell asks for (IPython.__version__, IPython.embed...) runs
    the real __init__ then, so `import IPython` in a cell behaves as usual.
    """
    import importlib.util
    spec = importlib.util.find_spec("IPython")
    package = importlib.util.module_from_spec(spec)
    state = {"initialized": False}

    def getattr_(name):
        if name == "get_ipython":
            from IPython.core.getipython import get_ipython
            return get_ipython
        if not state["initialized"] and (not name.startswith("__") or name in ("__version__", "__author__")):
            state["initialized"] = True
            del package.__dict__["__getattr__"]
            with open(spec.origin, "rb") as source:
                exec(compile(source.read(), spec.origin, "exec"), package.__dict__)
            if name in package.__dict__:
                return package.__dict__[name]
        raise AttributeError(f"module 'IPython' has no attribute {name!r}")

    package.__getattr__ = getattr_
    sys.modules["IPython"] = package
    from IPython.core import interactiveshell
    return interactiveshell


def make_shell(channel):
    """The InteractiveShell whose displays, values and errors become events."""
    interactiveshell = import_interactiveshell()
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from traitlets.config import Config

    class Hook(DisplayHook):
        """The cell's value: a result with is_main_result, nothing printed."""

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            channel.send(result_event(format_dict, True))

        def finish_displayhook(self):
            pass

    class Publisher(DisplayPublisher):
        """display() calls: results."""

        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            channel.send(result_event(data, False))

        def clear_output(self, wait=False):
            pass

    class Shell(interactiveshell.InteractiveShell):
        displayhook_class = Hook
        display_pub_class = Publisher
        pending_error = None

        def _showtraceback(self, etype, evalue, stb):
            self.pending_error = {"type": "error", "name": etype.__name__, "value": str(evalue),
                                  "traceback": self.InteractiveTB.stb2text(stb)}

        def show_usage_error(self, exc):
            self.pending_error = {"type": "error", "name": "UsageError", "value": str(exc),
                                  "traceback": f"UsageError: {exc}"}

        # !cmd: the shell's output straight on fd 1 and 2, as the cell's output (system_piped would run it in
        # a pseudo-terminal through pexpect: CRLF line ends and no stderr)
        system = interactiveshell.InteractiveShell.system_raw

        def enable_gui(self, gui=None):
            pass  # %matplotlib inline (Jupyter's backend, which displays through this shell): no event loop

        def ask_exit(self):  # exit() and quit() in a cell
            self.exit_now = True

        def init_completer(self):
            pass  # no completion requests: neither jedi nor the completer's imports

    config = Config()
    config.HistoryManager.enabled = False  # no sqlite file, no saving thread
    config.HistoryManager.hist_file = ":memory:"
    config.InteractiveShell.colors = "NoColor"
    directory = tempfile.mkdtemp(prefix="jaild-ipython-")  # IPython wants a profile directory to exist
    try:
        shell = Shell.instance(ipython_dir=directory, config=config)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    shell.db = MemoryDB()  # %cd's directory history, %bookmark, %store: in memory, not in the profile

    # A matplotlib Figure as a cell's value or in display(): its PNG too (without importing matplotlib).
    shell.display_formatter.formatters["image/png"].for_type_by_name(
        "matplotlib.figure", "Figure", lambda fig: figure_png(fig))
    return shell


class MemoryDB(dict):
    """What IPython's magics use of PickleShareDB (shell.db), kept in memory."""

    def keys(self, pattern=None):
        import fnmatch
        return [k for k in dict.keys(self) if pattern is None or fnmatch.fnmatch(k, pattern)]

    def uncache(self, *items):
        pass


def figure_png(fig):
    from IPython.core.pylabtools import print_figure
    return print_figure(fig, "png")


class Figures:
    """Jupyter's inline backend, in short: open figures become results at the cell's end or at plt.show()."""

    def __init__(self, channel):
        self.channel = channel
        self.patched = None

    def flush(self, *args, **kwargs):
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        try:
            for number in pyplot.get_fignums():
                figure = pyplot.figure(number)
                png = figure_png(figure)
                if png:
                    self.channel.send({"type": "result", "text": repr(figure),
                                       "png": base64.b64encode(png).decode(), "is_main_result": False})
            pyplot.close("all")
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - a figure that cannot be drawn is the cell's problem, not the kernel's
            import traceback
            traceback.print_exc()

    def patch_show(self):
        """plt.show() shows and closes the figures at once (Agg's would do nothing)."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None and pyplot is not self.patched:
            pyplot.show = self.flush
            self.patched = pyplot


def run_cell(shell, channel, figures, code):
    """Runs one cell and sends its events, end last."""
    count = shell.execution_count
    shell.pending_error = None
    figures.patch_show()
    try:
        Interrupts.running()  # also when a previous cell installed its own handler
        try:
            shell.run_cell(code, store_history=True)
        finally:
            Interrupts.idle()
    except KeyboardInterrupt:  # outside the code IPython guards (compiling, its own hooks)
        shell.pending_error = {"type": "error", "name": "KeyboardInterrupt", "value": "",
                               "traceback": "KeyboardInterrupt"}
    figures.flush()
    figures.patch_show()
    if shell.pending_error is not None:
        channel.send(shell.pending_error)
    channel.send({"type": "end", "execution_count": count})


def serve(channel, shell):
    figures = Figures(channel)
    while True:
        frame = channel.read_frame()
        if frame is None:
            return
        kind, payload = frame
        if kind != CELL:
            continue
        try:
            code = json.loads(payload)["code"]
            if not isinstance(code, str):
                raise ValueError("code is not a string")
        except (ValueError, KeyError, TypeError) as exc:
            channel.send({"type": "error", "name": "ValueError", "value": f"bad CELL frame: {exc}",
                          "traceback": ""})
            channel.send({"type": "end", "execution_count": shell.execution_count})
            continue
        run_cell(shell, channel, figures, code)
        if shell.exit_now:  # exit() or quit() in the cell: the next cell starts a fresh interpreter
            return


def main():
    Interrupts.idle()
    channel = prepare_process()
    shell = make_shell(channel)
    serve(channel, shell)


if __name__ == "__main__":
    main()
