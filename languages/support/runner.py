"""jaild's Python runner: main() mode and the `result` variable.

Mounted read-only at /opt/jaild/runner.py and started as

    python3 -u /opt/jaild/runner.py main|result SCRIPT [ARG...]

File descriptor 3 is a private channel to jaild (a socket pair, not stdout): jaild first writes the
request's `data` (a JSON object, possibly empty) and closes its side for writing; when the script is done
the runner writes one JSON object back:

    {"status": "ok", "result": "JSON TEXT"}                 main() returned / `result` was set (serialized
                                                            here, so numbers keep Python's spelling)
    {"status": "ok"}                                        result mode, no `result` variable
    {"status": "no_main"}                                   main mode, the script defines no main()
    {"status": "not_serializable", "type": T, "message": M} the value is not JSON
    {"status": "exception", "type": T, "message": M, "trace": TRACEBACK}

Nothing the script prints goes there, so printing a fake result changes nothing. The channel is moved off
fd 3 and made non-inheritable before the script runs, so programs the script starts never get it.
"""

import json
import os
import sys
import types

# traceback is imported only when a script raises: with linecache, tokenize and textwrap it is a few ms of
# every run's start, and most runs never need it.

RUNNER = os.path.abspath(__file__)


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def user_trace(exc):
    """The traceback without the runner's own frames."""
    import traceback
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) != RUNNER]
    text = "".join(traceback.format_exception_only(type(exc), exc))
    if frames:
        text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + text
    return text


def describe(exc):
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def answer_for(value, what):
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return {"status": "not_serializable", "type": type(value).__name__,
                "message": f"{what} is not JSON-serializable: {exc}"}
    return {"status": "ok", "result": text}


def run(mode, path, data):
    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec")
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    module.__dict__.update(data)
    sys.modules["__main__"] = module
    exec(code, module.__dict__)
    if mode == "main":
        main = module.__dict__.get("main")
        if not callable(main):
            return {"status": "no_main"}
        return answer_for(main(), "the value main() returned")
    if "result" not in module.__dict__:
        return {"status": "ok"}
    return answer_for(module.__dict__["result"], "the variable `result`")


def main():
    mode, path, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    channel = os.dup(3)  # non-inheritable (PEP 446)
    os.close(3)
    request = read_all(channel)
    data = json.loads(request) if request.strip() else {}
    sys.argv = [path] + args
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    try:
        answer = run(mode, path, data)
    except SystemExit:
        raise  # the script's own exit code; no result
    except BaseException as exc:  # noqa: BLE001 - everything the script raises is reported
        answer = {"status": "exception", "type": type(exc).__name__, "message": describe(exc),
                  "trace": user_trace(exc)}
    exit_code = 0 if answer["status"] == "ok" else 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not hide the result
            pass
    write_all(channel, json.dumps(answer).encode())
    os.close(channel)
    if "trace" in answer:
        sys.stderr.write(answer["trace"])
    elif exit_code:
        sys.stderr.write(answer.get("message", "the script has no main() function") + "\n")
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
