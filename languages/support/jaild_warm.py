"""jaild's warm start: a forked Python zygote runs a run's command line as a cold interpreter would.

jaild-zygote (C++, embedding Debian's libpython3.11) puts this directory on sys.path, imports this module
and the operator's preload list, and calls prepare() once. For each run it forks; the child enters the
run's sandbox in C++ (cgroup, namespaces, pivoted root, rlimits, uid, capabilities, seccomp, signal
dispositions and mask, umask, cwd; fds 0/1/2 are the run's stdio, fd 3 the runner's channel when the run
has one), has PyOS_AfterFork_Child() called, and calls

    jaild_warm.run(argv, env)

argv is the run's command line, env its environment as "KEY=value" strings (a run whose LANG, LC_* or
PYTHON* values differ from the zygote's goes cold: run() takes the zygote's stdio encodings and
sys.flags as the run's). The zygote runs no Python between prepare() and its forks, so nothing is
written to its Python streams after prepare() flushed them.

run() never returns: it resets what execve("/usr/bin/python3", argv, env) would have reset and a
program can see, runs the program, and ends the process as the cold interpreter would (os._exit with its
exit status, or death by SIGINT after an uncaught KeyboardInterrupt). Only this grammar goes warm
(fits(); anything else is refused with exit status 2):

    python3 [-u|-B]... -c CODE [ARG...]
    python3 [-u|-B]... -m MODULE [ARG...]
    python3 [-u|-B]... SCRIPT [ARG...]          SCRIPT not starting with "-"

What run() resets, as cold python sets it: os.environ and the C environment; sys.argv, sys.orig_argv,
sys.executable (python3 looked up on the run's PATH), sys.path[0] (the script's real directory, '' for
-c, the cwd for -m, the zygote's own entry for this directory removed), sys.dont_write_bytecode (-B);
Python's view of the signal handlers (SIGINT: default_int_handler, SIGPIPE and SIGXFSZ ignored, the rest
default) and the wakeup fd; fresh sys.stdin/stdout/stderr (and sys.__std*__) on fds 0/1/2 with the
zygote's encodings, stdout block-buffered unless -u (then write-through on an unbuffered FileIO), stderr
line-buffered (prepare() flushed the zygote's own streams into the zygote's fds, so nothing stale is
left in them to reach a run's); `random` and numpy.random's global RandomState (when imported) reseeded
from the kernel (secrets and os.urandom are the kernel's already); import caches: what
importlib.invalidate_caches() drops (path_importer_cache entries that are None or relative, namespace
package paths, other meta path finders' caches) and the entries of the new sys.path[0], '' and the cwd;
tempfile.tempdir and time.tzset() (they depend on the environment); a fresh __main__ module with the
globals cold python gives each form (sys.modules['__main__'], so pickle finds its functions). Exceptions
are printed by sys.excepthook with no frame of this module (runpy's frames stay for -m, as cold shows
them); SystemExit gives the cold exit status.

At exit it does what Py_FinalizeEx does that a program can observe: threading._shutdown() (non-daemon
threads joined, threading atexit callbacks), atexit handlers, flush of sys.stdout/sys.stderr (a failure
is reported as unraisable and gives exit status 120), __main__'s dict cleared as finalization clears it
and garbage collected (so files the program left open are flushed), sys.__stdout__/__stderr__ flushed
silently as their deallocation does; then os._exit. No other teardown: with pandas loaded it would take
longer than most runs.

Speed: every page a child writes is copied from the zygote (about 3 us each), so run() avoids touching
what it need not. The preloaded packages' FileFinders are not invalidated one by one: a FileFinder stats
its directory on every lookup and rereads it when the mtime changed, which is what invalidate_caches()
would force. numpy's global MT19937 key is overwritten in place with os.urandom (its layout checked once
in prepare()) instead of through numpy's seeding code.

Atexit handlers that preloaded modules registered (e.g. logging.shutdown) are kept: they run after the
program's own, in the run's sandbox, exactly as in a cold interpreter whose program imported those
modules first; for a program that does not use those modules they find nothing to do.

Differences from a cold interpreter that stay:
- sys.modules holds the preloaded modules and what they imported: importing them takes no time, their
  import-time effects (warnings filters, atexit handlers, caches) happened in the zygote, and a module in
  the script's directory named like one of them is not imported (the preloaded one is).
- sys.flags is the zygote's (it cannot be replaced): sys.flags.dont_write_bytecode does not show -B;
  sys.dont_write_bytecode, which is what -B sets, does.
- The hash secret (str and bytes hash values), ASLR layout and stack canary are the zygote's, shared by
  its children; recycling the zygote bounds that.
- gc.get_freeze_count() is not 0: prepare() freezes the preloaded heap.
- Finalization is emulated, not run: objects reachable only from modules other than __main__ are not
  finalized at exit (their __del__ does not run, their unflushed file buffers are lost); daemon threads
  keep running until os._exit instead of stopping when finalization starts.
- Environment entries with an empty name or a repeated name are dropped (a repeated name keeps its first
  value, as os.environ does); the C environment then holds each name once.
- time.tzset() rereads TZ, but without TZ the C library keeps the zygote's /etc/localtime.
- The program runs from run()'s frame, so it starts one frame deeper than cold: sys._getframe().f_back,
  traceback.print_stack() and inspect.stack() show run(); RecursionError comes one call earlier (a
  traceback says "repeated 995 more times" where cold says 996); a warning whose stacklevel points past
  the program names jaild_warm.py where cold names "sys".
- -m of a dotted module that the preload imported (not a package) prints runpy's RuntimeWarning "found in
  sys.modules after import of package"; cold prints it only when the package itself imports the module.
- While the program's atexit handlers run, sys.unraisablehook is a wrapper that drops run()'s frames
  from what C reports, then calls the program's hook.
- A script file with NUL bytes: cold 3.11 reads each line only up to its first NUL; run() compiles the
  bytes as compile() does, which refuses them (ValueError: source code string cannot contain null bytes).
- A stream object of the zygote that a preloaded module kept (a logging handler's) writes to the run's
  fd with the zygote's buffering; cold, it would be the run's own sys.stderr.
"""

import atexit
import gc
import io
import os
import runpy
import signal
import sys
import time

# traceback is never imported here: printing goes through sys.excepthook like the cold interpreter's.

HERE = os.path.dirname(os.path.abspath(__file__))
OPTIONS = ("-u", "-B")
FS_ENCODING = sys.getfilesystemencoding()
PATH_FINDER = sys.modules["_frozen_importlib_external"].PathFinder
NAMESPACE_PATH = sys.modules["_frozen_importlib_external"]._NamespacePath
FUNCTION = type(lambda: None)
WARM_UP_CALLS = 16  # more calls than CPython 3.11 waits before it quickens a code object
ZIP_END, ZIP_END_SPAN = b"PK\x05\x06", 65536 + 22  # a zip's end record lies in its last 64 KiB
MT19937_KEY_BYTES = 624 * 4
MT19937_KEY_END = (624).to_bytes(4, sys.byteorder)  # pos: the next draw regenerates from the new key
# What the end of a run calls, taken now: a program that replaces os._exit or gc.collect does not change
# how its interpreter ends (cold finalization is C).
END = {"exit": os._exit, "kill": os.kill, "getpid": os.getpid, "signal": signal.signal, "collect": gc.collect,
       "run_exitfuncs": atexit._run_exitfuncs}
_kept = []  # the zygote's stdio and __main__: never finalized in a child (their fds are the run's now)
_zygote = {}  # filled by prepare()


def parse(argv):
    """(options, form, target, args) for a command line of the warm grammar, or None."""
    if not isinstance(argv, (list, tuple)) or not all(isinstance(word, str) for word in argv):
        return None
    if len(argv) < 2 or argv[0] != "python3":
        return None
    first = 1
    while first < len(argv) and argv[first] in OPTIONS:
        first += 1
    options, rest = frozenset(argv[1:first]), list(argv[first:])
    if not rest:
        return None
    if rest[0] in ("-c", "-m"):
        if len(rest) < 2 or (rest[0] == "-m" and not rest[1]):
            return None
        return options, rest[0], rest[1], rest[2:]
    if not rest[0] or rest[0].startswith("-"):
        return None
    return options, "script", rest[0], rest[1:]


def fits(argv):
    """Whether argv is a command line run() takes (the C++ side checks the same grammar)."""
    return parse(argv) is not None


def prepare():
    """Once in the zygote, after the preload imports and before the first fork.

    It writes out the zygote's own stdio buffers, records what run() restores (sys.path without this
    directory, stdio encodings, Python's signal handlers that differ from cold's, stale import caches,
    numpy's generator state), and freezes the heap for the garbage collector.
    """
    _retire_stdio()
    _zygote["path"] = [entry for entry in sys.path if os.path.abspath(entry or ".") != HERE]
    _zygote["stdio"] = [_stdio_codec(stream, fd) for fd, stream in
                        enumerate((sys.__stdin__, sys.__stdout__, sys.__stderr__))]
    _zygote["unbuffered"] = _started_unbuffered()
    _zygote["signals"] = [(signum, _cold_handler(signum)) for signum in sorted(signal.valid_signals())
                          if signum not in (signal.SIGKILL, signal.SIGSTOP)
                          and signal.getsignal(signum) is not _cold_handler(signum)]
    _zygote["wakeup_fd"] = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(_zygote["wakeup_fd"])
    _zygote["stale_finders"] = [entry for entry, finder in sys.path_importer_cache.items()
                                if finder is None or not os.path.isabs(entry)]
    _zygote["meta_finders"] = [finder for finder in sys.meta_path
                               if finder is not PATH_FINDER and hasattr(finder, "invalidate_caches")]
    _zygote["numpy_state"] = _numpy_state()
    import ctypes
    _zygote["clearenv"] = ctypes.CDLL(None, use_errno=True).clearenv
    _zygote["unraisable"] = _unraisable_args_type()
    _warm_up()
    gc.collect()
    gc.freeze()  # a child's first collection must not write to (and so copy) the preloaded heap


def _warm_up():
    """Run the side-effect-free part of run()'s path until CPython has specialized its bytecode.

    A function's first calls write to its code object (warm-up counters, then specialization); done
    here they are done once in the zygote instead of being copied into every child.
    """
    path = os.environ._data.get(b"PATH")
    for _ in range(WARM_UP_CALLS):
        parse(["python3", "-u", "-B", "main.py", "arg"])
        _executable(path)
        os.path.dirname(os.path.realpath(HERE))
        for fd, name in enumerate(("<stdin>", "<stdout>", "<stderr>")):
            _open_stdio(fd, name, False)  # closefd=False and nothing written: dropped without effect


def _cold_handler(signum):
    if signum == signal.SIGINT:
        return signal.default_int_handler
    if signum in (signal.SIGPIPE, signal.SIGXFSZ):
        return signal.SIG_IGN
    return signal.SIG_DFL


def _retire_stdio():
    """Write out what the zygote's streams buffer, to the zygote's own fds, and keep them alive.

    After a fork nothing is left in them to reach a run's fds. They are never finalized in a child: a
    preloaded module that kept one (a logging handler, say) writes to fd 0/1/2, which are the run's,
    as its cold twin writes to the streams cold python made on those fds.
    """
    for stream in (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            _kept.append(stream)
            if stream is not sys.__stdin__ and stream is not sys.stdin:
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - a closed zygote stream holds nothing to write
                    pass


def _started_unbuffered():
    """Whether the interpreter started with unbuffered stdio (PYTHONUNBUFFERED: sys.flags does not say)."""
    stdout = sys.__stdout__
    if stdout is not None and hasattr(stdout, "write_through"):
        return stdout.write_through
    return bool(os.environ.get("PYTHONUNBUFFERED")) and not sys.flags.ignore_environment


def _stdio_codec(stream, fd):
    """(encoding, errors) the interpreter chose for this stream at its start."""
    if stream is not None and getattr(stream, "encoding", None):
        return stream.encoding, stream.errors
    import locale
    encoding, _, errors = os.environ.get("PYTHONIOENCODING", "").partition(":")
    encoding = encoding or ("utf-8" if sys.flags.utf8_mode else locale.getencoding())
    if fd == 2:
        return encoding, "backslashreplace"
    coerced = locale.setlocale(locale.LC_CTYPE) in ("C", "POSIX", "C.UTF-8", "C.utf8", "UTF-8")
    return encoding, errors or ("surrogateescape" if sys.flags.utf8_mode or coerced else "strict")


def _numpy_state():
    """numpy.random's global MT19937 state as (memmove, address), when numpy.random is loaded.

    run() overwrites the key with kernel entropy and sets pos to the end of the key, which is what
    seeding it achieves, without the page copies that numpy's seeding code costs a forked child.
    """
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is None:
        return None
    try:
        import ctypes
        legacy = numpy_random.mtrand._rand
        legacy.set_state(legacy.get_state()[:3])  # no cached gaussian shared by every child
        name, key, pos = legacy.get_state()[:3]
        address = legacy._bit_generator.ctypes.state_address
        layout = key.tobytes() + pos.to_bytes(4, sys.byteorder)
        if name == "MT19937" and ctypes.string_at(address, len(layout)) == layout:
            return ctypes.memmove, address
    except Exception:  # noqa: BLE001 - another numpy: run() seeds it the slow way
        pass
    return False


def _unraisable_args_type():
    """sys.UnraisableHookArgs is not exported: catch one to report a failed flush as C does."""
    caught, hook = [], sys.unraisablehook
    sys.unraisablehook = caught.append

    class Raiser:
        def __del__(self):
            raise RuntimeError

    try:
        Raiser()
    finally:
        sys.unraisablehook = hook
    return type(caught[0])


def run(argv, env):
    """Run argv in this forked child as /usr/bin/python3 would; never returns."""
    parsed = parse(argv)
    if parsed is None or not _zygote:
        why = "prepare() was not called" if parsed is not None else f"not a warm command line: {argv!r}"
        os.write(2, f"jaild_warm: {why}\n".encode(errors="backslashreplace"))
        os._exit(2)
    options, form, target, args = parsed
    _reset_process(argv, env, options)
    main = _fresh_main()
    escaped = None
    try:
        kind, what = _load(main, form, target, args)
        if kind in ("code", "script"):
            # Called as a function, not through exec(): no C call between run() and the program, so
            # it starts one frame (run()'s) deeper than cold, not two. Module code keeps globals as locals.
            FUNCTION(what, main.__dict__)()
        elif kind == "module":
            runpy._run_module_as_main(*what)
        if kind == "script":  # as cold python does once a script run from its file is done
            main.__dict__.pop("__file__", None)
            main.__dict__.pop("__cached__", None)
        status = what if kind == "status" else 0
    except BaseException as exc:  # noqa: BLE001 - what escapes the program is printed as cold does
        escaped = _without_own_frames(exc)
    if escaped is None:
        _finish(status, False, main)
    _finish(*_uncaught(escaped, main), main)  # outside the except: the hook sees no handled exception


def _reset_process(argv, env, options):
    _reset_environ(env)
    _reset_signals()
    sys.orig_argv = list(argv)
    # os.environ's bytes, not os.environ.get(): that is five Python calls, each page they write copied
    sys.executable = sys._base_executable = _executable(os.environ._data.get(b"PATH"))
    sys.dont_write_bytecode = "-B" in options or bool(sys.flags.dont_write_bytecode)
    _reset_stdio("-u" in options or _zygote["unbuffered"])
    _reseed()
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # chosen again from this run's TMPDIR and file system
    time.tzset()


def _reset_environ(env):
    """os.environ and the C environment become exactly env (what os.environ's own methods do, inlined).

    The C environment is cleared whole: the zygote may hold names os.environ never saw (set from C).
    """
    _zygote["clearenv"]()
    data = os.environ._data  # bytes to bytes, shared with os.environb
    data.clear()
    for entry in env:
        name, equals, value = entry.partition("=")
        key = name.encode(FS_ENCODING, "surrogateescape")
        if equals and key and key not in data:
            data[key] = value.encode(FS_ENCODING, "surrogateescape")
            os.putenv(key, data[key])


def _reset_signals():
    for signum, handler in _zygote["signals"]:  # those where the zygote's view differs from cold's
        signal.signal(signum, handler)
    if _zygote["wakeup_fd"] != -1:
        signal.set_wakeup_fd(-1)


def _executable(path):
    """sys.executable as cold python computes it for argv[0] "python3": the first on PATH (bytes)."""
    path = "" if path is None else path.decode(FS_ENCODING, "surrogateescape")
    for directory in (path.split(":") if path else ()):
        candidate = directory + "python3" if not directory or directory.endswith("/") else directory + "/python3"
        try:
            mode = os.stat(candidate).st_mode
        except OSError:
            continue
        if mode & 0o111 and (mode & 0o170000) == 0o100000:
            return candidate if candidate.startswith("/") else os.path.abspath(candidate)
    return ""


def _reset_stdio(unbuffered):
    streams = [_open_stdio(fd, name, unbuffered) for fd, name in enumerate(("<stdin>", "<stdout>", "<stderr>"))]
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams


def _open_stdio(fd, name, unbuffered):
    """What create_stdio() in pylifecycle.c builds for fd."""
    write = fd != 0
    buffering = 0 if unbuffered and write else -1
    try:
        buffer = io.open(fd, "wb" if write else "rb", buffering, closefd=False)
    except OSError:
        return None  # no such fd: cold python sets the stream to None
    raw = buffer if buffering == 0 else buffer.raw
    raw.name = name
    line_buffering = not unbuffered and (raw.isatty() or fd == 2)
    encoding, errors = _zygote["stdio"][fd]
    stream = io.TextIOWrapper(buffer, encoding, errors, "\n", line_buffering, unbuffered)
    stream.mode = "w" if write else "r"
    return stream


def _reseed():
    """Fresh kernel entropy for the generators a forked child would otherwise share."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()
    if _zygote["numpy_state"]:
        memmove, address = _zygote["numpy_state"]
        memmove(address, os.urandom(MT19937_KEY_BYTES) + MT19937_KEY_END, MT19937_KEY_BYTES + 4)
    elif "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()


def _reset_path(first):
    sys.path[:] = _zygote["path"]
    if first is not None and not sys.flags.safe_path:
        sys.path.insert(0, first)
    cache = sys.path_importer_cache
    for entry in _zygote["stale_finders"] + [first, "", os.getcwd()]:
        cache.pop(entry, None)
    NAMESPACE_PATH._epoch += 1
    for finder in _zygote["meta_finders"]:
        finder.invalidate_caches()


def _fresh_main():
    """The __main__ module a cold interpreter has before it runs anything."""
    _kept.append(sys.modules.get("__main__"))
    main = type(sys)("__main__")
    main.__annotations__ = {}
    main.__builtins__ = sys.modules["builtins"]
    main.__loader__ = sys.modules["_frozen_importlib"].BuiltinImporter
    sys.modules["__main__"] = main
    return main


def _load(main, form, target, args):
    """What run() executes: ("code"|"script", code), ("module", runpy arguments) or ("status", exit status).

    Sets sys.argv and sys.path as cold python does for the form; raises SyntaxError as compiling does.
    """
    if form == "-c":
        sys.argv = ["-c"] + args
        _reset_path("")
        return "code", compile(target, "<string>", "exec", dont_inherit=True)
    if form == "-m":
        sys.argv = ["-m"] + args
        _reset_path(os.getcwd())
        return "module", (target,)
    sys.argv = [target] + args
    return _load_script(main, os.path.join(os.getcwd(), target))  # absolute, not normalized, as cold names it


def _load_script(main, path):
    try:
        with open(path, "rb") as file:
            source, error = file.read(), None
    except OSError as exc:
        source, error = b"", exc
    # A directory or a zip file runs as a sys.path entry (its __main__.py); no hook takes any other
    # file, so theirs are not tried: zipimport reading the file would cost a forked child copied pages.
    if error is not None or ZIP_END in source[-ZIP_END_SPAN:]:
        if _path_importer(path) is not None:
            _reset_path(path)
            return "module", ("__main__", False)
    else:
        sys.path_importer_cache.setdefault(path, None)  # as PyImport_GetImporter leaves it
    _reset_path(os.path.dirname(os.path.realpath(path)))
    if error is not None:
        sys.stderr.write(f"python3: can't open file {path!r}: [Errno {error.errno}] {error.strerror}\n")
        return "status", 2
    loader = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", path)
    main.__dict__.update(__loader__=loader, __file__=path, __cached__=None)
    return "script", compile(source, path, "exec", dont_inherit=True)


def _path_importer(path):
    """PyImport_GetImporter(path): a finder when path is a usable sys.path entry, cached like cold's."""
    cache = sys.path_importer_cache
    if path not in cache:
        cache[path] = None
        for hook in sys.path_hooks:
            try:
                cache[path] = hook(path)
                break
            except ImportError:
                continue
    return cache[path]


def _without_own_frames(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return exc.with_traceback(tb)


def _uncaught(exc, main):
    """PyErr_Print for what ended the program: (exit status, whether it was an uncaught KeyboardInterrupt)."""
    if isinstance(exc, SystemExit):
        return _exit_status(exc), False
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
    _call_excepthook(exc)
    if main.__dict__.get("__cached__", 0) is None:  # a script run from its file: cold drops both names
        for name in ("__file__", "__cached__"):
            main.__dict__.pop(name, None)
    return 1, type(exc) is KeyboardInterrupt


def _call_excepthook(exc):
    hook = getattr(sys, "excepthook", None)
    if hook is None:
        sys.stderr.write("sys.excepthook is missing\n")
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
        return
    try:
        hook(type(exc), exc, exc.__traceback__)
    except SystemExit as hook_exit:
        _finish(_exit_status(hook_exit), False, None)
    except BaseException as hook_exc:  # noqa: BLE001 - reported as cold reports a failing hook
        hook_exc = _without_own_frames(hook_exc)
        sys.stderr.write("Error in sys.excepthook:\n")
        sys.__excepthook__(type(hook_exc), hook_exc, hook_exc.__traceback__)
        sys.stderr.write("\nOriginal exception was:\n")
        sys.__excepthook__(type(exc), exc, exc.__traceback__)


def _exit_status(exit):
    """handle_system_exit(): None is 0, an int is itself (-1 when it is too big for a C long), else 1."""
    code = exit.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code if -2**63 <= code < 2**63 else -1
    stderr = getattr(sys, "stderr", None)
    if stderr is not None:
        stderr.write(str(code))
        stderr.write("\n")
    else:
        os.write(2, f"{code}\n".encode(errors="backslashreplace"))
    return 1


def _finish(status, interrupted, main):
    """The observable part of Py_FinalizeEx, then the end of the process (exit_sigint() after ^C)."""
    flushed = [True]
    try:
        _finalize(main, flushed)
    except BaseException:  # noqa: BLE001 - interrupted while finalizing: the process ends all the same
        pass
    if interrupted:
        END["signal"](signal.SIGINT, signal.SIG_DFL)
        END["kill"](END["getpid"](), signal.SIGINT)
        END["exit"](130)
    END["exit"]((status if flushed[0] else 120) & 0xFF)


def _finalize(main, flushed):
    hook = sys.unraisablehook  # what C reports now (an atexit callback's error) must not name this frame
    sys.unraisablehook = lambda args: hook(_unraisable_without_own_frames(args))
    _wait_for_threads()
    END["run_exitfuncs"]()
    flushed[0] = _flush(sys.stdout, sys.stderr)
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    for module in {id(m): m for m in (main, sys.modules.get("__main__")) if m is not None}.values():
        _clear_module(module)
    END["collect"]()
    for stream in (sys.__stdout__, sys.__stderr__):  # what their deallocation writes, silently
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - as iobase_finalize(): errors are dropped
            pass


def _wait_for_threads():
    threading = sys.modules.get("threading")
    if threading is None:
        return
    try:
        threading._shutdown()
    except BaseException as exc:  # noqa: BLE001 - reported as unraisable, as cold does
        _unraisable(exc, threading)


def _flush(stdout, stderr):
    """flush_std_files(): False when a flush failed (stdout's failure is reported, stderr's is not)."""
    ok = True
    for stream in (stdout, stderr):
        if stream is None or _is_closed(stream):
            continue
        try:
            stream.flush()
        except BaseException as exc:  # noqa: BLE001 - any failure makes the exit status 120
            ok = False
            if stream is stdout:
                _unraisable(exc, stream)
    return ok


def _is_closed(stream):
    try:
        return bool(stream.closed)
    except BaseException:  # noqa: BLE001 - as file_is_closed(): no answer is "open"
        return False


def _unraisable(exc, obj):
    exc = _without_own_frames(exc)  # a failed flush has no frame at all: C called it
    sys.unraisablehook(_zygote["unraisable"]((type(exc), exc, exc.__traceback__, None, obj)))


def _unraisable_without_own_frames(args):
    """PyErr_WriteUnraisable() gives a traceback-less error the current frame; cold, there is none."""
    tb = args.exc_traceback
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return _zygote["unraisable"]((args.exc_type, args.exc_value, tb, args.err_msg, args.object))


def _clear_module(module):
    """_PyModule_ClearDict(): names starting with one underscore first, then the rest but __builtins__."""
    namespace = module.__dict__
    for single in (True, False):
        for name in list(namespace):
            if not isinstance(name, str) or name == "__builtins__":
                continue
            if (name.startswith("_") and not name.startswith("__")) == single:
                namespace[name] = None
