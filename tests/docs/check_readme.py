#!/usr/bin/env python3
"""Runs every `$ curl ...` and `$ build/bin/jailctl ...` example of README.md, as written there, against a
jaild and a jaild-gateway started the way scripts/run starts them (the repository's config/jaild.toml, the
gateway as nobody in group jaild without capabilities), and checks each answer against the output the README
shows.

How the README's output is read:
- A JSON answer is compared field by field with the one shown. `...` stands for fields (in an object) or items
  (in an array) left out; inside a string it stands for any text. An id shown as `5f0c...` stands for any id,
  and in a later command for the id of the last answer that had one. Timings and sizes (wall_ms, cpu_ms,
  memory_kb, *_ms times) are checked by presence and type, not value.
- Several JSON lines are an NDJSON stream, compared line by line.
- Anything else (jailctl's output) is compared line by line, stdout and stderr together as a terminal shows.
- No output shown: the command must succeed (exit 0) and a JSON answer must not be an error.

Only the port (the gateway listens on a free one, not 8080), the socket and the build directory differ from
the README's text. Usage: check_readme.py SOURCE_DIR BIN_DIR
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NUMERIC_KEYS = {"wall_ms", "cpu_ms", "memory_kb", "created_ms", "last_used_ms", "disk_used_bytes"}
ELIDED_ID = re.compile(r"^[0-9a-f]{4}\.\.\.$")
ID_IN_COMMAND = re.compile(r"\b[0-9a-f]{4}\.\.\.")
ARRAY_REST = "\u0001..."  # what `...` inside an array becomes: "more items may be here"


def examples(readme):
    """(command, expected output lines) for every `$ ` line in the README's code blocks."""
    found, in_block, current = [], False, None
    for line in readme.splitlines():
        if line.startswith("```"):
            if current:
                found.append(current)
            in_block, current = not in_block, None
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            if current:
                found.append(current)
            current = [line[2:], []]
        elif current is not None and current[0].endswith("\\") and not current[1]:
            current[0] = current[0][:-1] + " " + line.strip()
        elif current is not None:
            current[1].append(line)
    return [(cmd, out) for cmd, out in found if re.match(r"(curl|build/bin/jailctl|echo .*\| build/bin/jailctl)", cmd)]


def loose_json(text):
    """Parses the README's JSON with `...` elisions (see the module's doc); raises ValueError if it is not."""
    out, stack, i, in_string = [], [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif text.startswith("...", i):
            i += 3
            if stack and stack[-1] == "[":
                out.append(json.dumps(ARRAY_REST))
                continue
            while i < len(text) and text[i].isspace():
                i += 1
            if i < len(text) and text[i] == ",":
                i += 1
            else:
                while out and out[-1].isspace():
                    out.pop()
                if out and out[-1] == ",":
                    out.pop()
            continue
        else:
            if c == '"':
                in_string = True
            elif c in "[{":
                stack.append(c)
            elif c in "]}":
                stack.pop()
            out.append(c)
        i += 1
    return json.loads("".join(out))


def matches(expected, actual, key=None):
    """Whether `actual` has what `expected` (parsed by loose_json) shows; a list of reasons when not."""
    if key in NUMERIC_KEYS:
        return [] if isinstance(actual, int) and not isinstance(actual, bool) else [f"{key}: {actual!r} is not an integer"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{key}: expected an object, got {actual!r}"]
        problems = []
        for k, v in expected.items():
            if k not in actual:
                problems.append(f"missing field {k}")
            else:
                problems += matches(v, actual[k], k)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{key}: expected an array, got {actual!r}"]
        items = [e for e in expected if e != ARRAY_REST]
        if len(items) == len(expected):
            if len(actual) != len(items):
                return [f"{key}: expected {len(items)} items, got {actual!r}"]
            return [p for e, a in zip(items, actual) for p in matches(e, a, key)]
        at = 0  # elided: the items shown appear in this order
        for e in items:
            while at < len(actual) and matches(e, actual[at], key):
                at += 1
            if at == len(actual):
                return [f"{key}: no item like {e!r} in {actual!r}"]
            at += 1
        return []
    if isinstance(expected, str) and "..." in expected:
        if not isinstance(actual, str):
            return [f"{key}: expected text, got {actual!r}"]
        if ELIDED_ID.match(expected):
            return [] if actual else [f"{key}: empty id"]
        pieces, at = expected.split("..."), 0
        if not actual.startswith(pieces[0]):
            return [f"{key}: {actual!r} does not start with {pieces[0]!r}"]
        for piece in pieces[1:]:
            found = actual.find(piece, at)
            if found < 0:
                return [f"{key}: {actual!r} lacks {piece!r}"]
            at = found + len(piece)
        return []
    if expected != actual or type(expected) is not type(actual):
        return [f"{key}: expected {expected!r}, got {actual!r}"]
    return []


def compare(expected_lines, output, status):
    """Reasons the output differs from the README's, [] when it does not."""
    text = "\n".join(expected_lines).strip()
    if not text:
        if status != 0:
            return [f"exit status {status}"]
        try:
            answer = json.loads(output)
        except ValueError:
            return []
        return [f"an error: {output.strip()}"] if isinstance(answer, dict) and "error" in answer and "stdout" not in answer else []
    try:
        expected = [loose_json(text)]
        actual = [json.loads(output)]
    except ValueError:
        try:
            expected = [loose_json(line) for line in expected_lines]
            actual = [json.loads(line) for line in output.splitlines()]
        except ValueError:
            wanted, got = text.splitlines(), output.rstrip("\n").splitlines()
            return [] if wanted == got else [f"expected {wanted!r}, got {got!r}"]
    if len(expected) != len(actual):
        return [f"expected {len(expected)} JSON lines, got {len(actual)}: {output!r}"]
    return [p for e, a in zip(expected, actual) for p in matches(e, a)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_pair(source, bin_dir, work):
    """jaild with the repository's config (scratch socket, state, run directory and the tests' uid range) and
    the gateway as scripts/run starts it."""
    uid_base = os.environ.get("JAILD_TEST_UID_BASE", "61000")
    config = open(os.path.join(source, "config/jaild.toml")).read()
    sock = os.path.join(work, "jaild.sock")
    for key, value in (("socket", f'"{sock}"'), ("run_dir", f'"{work}/run"'), ("state_dir", f'"{work}/state"'),
                       ("uid_base", uid_base), ("uid_count", "100")):
        config, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", config, flags=re.M)
        assert n == 1, key
    with open(os.path.join(work, "jaild.toml"), "w") as f:
        f.write(config)
    log = open(os.path.join(work, "jaild.log"), "w")
    jaild = subprocess.Popen([os.path.join(bin_dir, "jaild"), "--config", os.path.join(work, "jaild.toml")],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for _ in range(400):
        if os.path.exists(sock) or jaild.poll() is not None:
            break
        time.sleep(0.05)
    if not os.path.exists(sock):
        raise SystemExit("jaild did not start:\n" + open(os.path.join(work, "jaild.log")).read())
    # The gateway runs as nobody: a copy it can execute whatever the permissions of the build tree.
    gateway = os.path.join(work, "jaild-gateway")
    shutil.copy(os.path.join(bin_dir, "jaild-gateway"), gateway)
    port = free_port()
    group = subprocess.run(["getent", "group", "jaild"], capture_output=True, text=True, check=True).stdout
    gateway_proc = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--groups=" + group.split(":")[2], "--inh-caps=-all",
         "--bounding-set=-all", "--no-new-privs", gateway, "--listen", f"127.0.0.1:{port}", "--jaild-socket", sock],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return jaild, gateway_proc, port, sock


def main():
    source, bin_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    readme = open(os.path.join(source, "README.md")).read()
    cases = examples(readme)
    work = tempfile.mkdtemp(prefix="jaild-readme-")
    os.chmod(work, 0o755)
    jaild = gateway = None
    failures = 0
    try:
        jaild, gateway, port, sock = start_pair(source, bin_dir, work)
        with open(os.path.join(work, "in.csv"), "w") as f:
            f.write("a,b\n1,2\n")
        env = dict(os.environ, JAILD_SOCKET=sock)
        last_id = None
        for command, expected in cases:
            run = command.replace("localhost:8080", f"localhost:{port}").replace("build/bin/", bin_dir + "/")
            if ID_IN_COMMAND.search(run):
                if not last_id:
                    print(f"FAIL {command}\n  no id from an earlier answer")
                    failures += 1
                    continue
                run = ID_IN_COMMAND.sub(last_id, run)
            done = subprocess.run(["bash", "-c", run], cwd=work, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=120, stdin=subprocess.DEVNULL)
            try:
                answer = json.loads(done.stdout)
                if isinstance(answer, dict) and answer.get("session_id"):
                    last_id = answer["session_id"]
            except ValueError:
                pass
            problems = compare(expected, done.stdout, done.returncode)
            print(("FAIL " if problems else "ok   ") + command)
            for p in problems:
                print("  " + p)
            if problems:
                print("  output: " + done.stdout.strip()[:2000])
            failures += bool(problems)
    finally:
        for proc in (gateway, jaild):
            if proc:
                proc.terminate()
                proc.wait(timeout=30)
        if failures:
            print(open(os.path.join(work, "jaild.log")).read()[-4000:])
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(cases)} README examples, {failures} failed")
    if len(cases) < 10:
        print("too few examples found: has README.md's format changed?")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
