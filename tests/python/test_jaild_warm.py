"""languages/support/jaild_warm.py against a cold /usr/bin/python3.

Each program of the corpus runs twice in the same directory with the same argv, environment and stdin:
cold (posix_spawn of /usr/bin/python3 with argv[0] "python3") and warm (a /usr/bin/python3 "zygote" that
imports jaild_warm and the preload modules, then leaves what jaild-zygote might: unflushed text in its own
Python stdio, a logging handler holding its stderr stream, a Python SIGTERM handler, a variable set in the
C environment only; it calls prepare() and forks; the child puts the run's pipes on fds 0/1/2 (and the
runner's socket on 3), closes the rest, resets SIGTERM in C, enters the run's directory and calls
jaild_warm.run(argv, env)). stdout, stderr, exit status (death by signal included), the runner's answer
on fd 3 and the files left in the directory must be identical; the zygote's text must reach only the
zygote's own stdout.

Run with Debian's interpreter: /usr/bin/python3 tests/python/test_jaild_warm.py
"""

import functools
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import unittest

PYTHON = "/usr/bin/python3"
SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "languages", "support")
SUPPORT = os.path.realpath(SUPPORT)
RUNNER = os.path.join(SUPPORT, "runner.py")
PRELOAD = ["numpy", "pandas"]  # what languages/python.toml preloads; scripts/bootstrap installs both
ZYGOTE_FD = 20  # the run's fds sit here in the zygote until its child moves them to 0, 1, 2 (and 3)

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, SUPPORT)
import jaild_warm  # noqa: E402 - from the support directory

# The simulated zygote: what jaild-zygote does around jaild_warm, in Python.
ZYGOTE = r"""
import ctypes, json, os, signal, sys, time
def minor_faults():
    return int(os.read(os.open("/proc/self/stat", os.O_RDONLY), 4096).rsplit(b")", 1)[1].split()[7])
spec = json.loads(sys.argv[1])
sys.dont_write_bytecode = True  # no __pycache__ in the source tree; run() sets it from sys.flags again
sys.path[0] = spec["support"]  # in place of -c's '': the embedding zygote has no script entry
import jaild_warm
for name in spec["preload"]:
    __import__(name)
signal.signal(signal.SIGTERM, lambda *_: None)  # a handler of the zygote's own loop
os.putenv("ZYGOTE_C_ONLY", "1")  # set in the C environment behind os.environ's back, as C++ could
sys.stdout.write("STALE zygote stdout ")  # what preloading printed, still in the zygote's buffers
sys.stderr.write("STALE zygote stderr ")
import logging
logging.getLogger("preloaded").addHandler(logging.StreamHandler(sys.stderr))  # keeps the zygote's stream
jaild_warm.prepare()
statuses = []
for run in spec["runs"]:
    pid = os.fork()
    if pid == 0:
        try:
            for target in range(spec["fds"]):
                os.dup2(%(base)d + target, target)
            os.closerange(spec["fds"], 1024)
            ctypes.CDLL(None).signal(signal.SIGTERM, 0)  # C++ resets dispositions (SIG_DFL), not Python's view
            os.chdir(run["cwd"])
            env = run["env"]
            if spec.get("stamp"):  # last, so that run() is what the program's first line measures
                env = env + ["WARM_T0=%%d,%%d,%%d" %% (minor_faults(), time.process_time_ns(), time.monotonic_ns())]
            jaild_warm.run(run["argv"], env)
        finally:
            os._exit(99)  # run() returned or raised: a bug
    statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
os.write(1, ("\n" + json.dumps(statuses) + "\n").encode())
os._exit(0)
""" % {"base": ZYGOTE_FD}

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
       "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
RUN_ENV = [f"{k}={v}" for k, v in ENV.items()] + ["JAILD_RUN_ONLY=1", "TZ=UTC"]
ZYGOTE_ENV = [f"{k}={v}" for k, v in ENV.items()] + ["ZYGOTE_ONLY=1"]


def read_all(fd, chunks):
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)


def spawn(argv, env, cwd, stdin=b"", channel=None, runs=None):
    """Start /usr/bin/python3 with argv; with runs, argv is the zygote's and each run gets the pipes."""
    pipes = [os.pipe() for _ in range(3)]
    fds = [pipes[0][0], pipes[1][1], pipes[2][1]]
    ours = None
    if channel is not None:
        ours, theirs = socket.socketpair()
        ours.sendall(channel)
        ours.shutdown(socket.SHUT_WR)
        fds.append(theirs.fileno())
    zygote_out = os.pipe() if runs is not None else None
    if runs is None:
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
    else:
        devnull = os.open(os.devnull, os.O_RDONLY)
        actions = [(os.POSIX_SPAWN_DUP2, fd, ZYGOTE_FD + target) for target, fd in enumerate(fds)]
        actions += [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, zygote_out[1], 1),
                    (os.POSIX_SPAWN_DUP2, zygote_out[1], 2)]
    old_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        pid = os.posix_spawn(PYTHON, argv, dict(entry.split("=", 1) for entry in env), file_actions=actions)
    finally:
        os.chdir(old_cwd)
    if runs is not None:
        os.close(devnull)
        os.close(zygote_out[1])
    for fd in fds[:3]:
        os.close(fd)
    if channel is not None:
        theirs.close()
    out, err, log = [], [], []
    readers = [threading.Thread(target=read_all, args=(pipes[1][0], out)),
               threading.Thread(target=read_all, args=(pipes[2][0], err))]
    if runs is not None:
        readers.append(threading.Thread(target=read_all, args=(zygote_out[0], log)))
    for reader in readers:
        reader.start()
    os.write(pipes[0][1], stdin)
    os.close(pipes[0][1])
    for reader in readers:
        reader.join()
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    answer = None
    if ours is not None:
        answer = b"".join(iter(lambda: ours.recv(65536), b""))
        ours.close()
    result = {"stdout": b"".join(out), "stderr": b"".join(err), "status": status, "answer": answer}
    if runs is not None:
        result["zygote"] = b"".join(log)
    return result


def without(env, name):
    return [entry for entry in env if not entry.startswith(name + "=")]


def run_cold(argv, cwd, stdin=b"", channel=None, env=RUN_ENV):
    return spawn(argv, env, cwd, stdin, channel)


def run_warm(argv, cwd, stdin=b"", channel=None, env=RUN_ENV, count=1, stamp=False, zygote_env=ZYGOTE_ENV):
    spec = {"support": SUPPORT, "preload": PRELOAD, "fds": 3 if channel is None else 4, "stamp": stamp,
            "runs": [{"argv": argv, "env": env, "cwd": cwd}] * count}
    result = spawn(["python3", "-c", ZYGOTE, json.dumps(spec)], zygote_env, cwd, stdin, channel, runs=True)
    log = result.pop("zygote")
    statuses = json.loads(log.rsplit(b"\n", 2)[-2])
    if not log.startswith(b"STALE zygote stdout"):
        raise AssertionError(f"the zygote's own stdio lost its text: {log!r}")
    result["status"] = statuses[0] if count == 1 else statuses
    return result


def snapshot(directory):
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as file:
                content = file.read()
            if name.endswith(".pyc") and len(content) >= 12:
                # The header's source mtime (bytes 8-11): the cold and the warm run write their sources at
                # different moments, possibly in different seconds.
                content = content[:8] + b"MTIM" + content[12:]
            files[os.path.relpath(path, directory)] = content
    return files


PROBE = """\
import os, sys, signal
print(sys.argv, __name__, __file__ if '__file__' in globals() else None)
print(sys.path)
print(os.getcwd(), sys.executable, sys.orig_argv)
print(sorted(k for k in os.environ if k != 'WARM_T0'), os.environ.get('JAILD_RUN_ONLY'), os.getenv('ZYGOTE_ONLY'))
print(os.popen('env | grep -c ZYGOTE_; env | grep JAILD_RUN_ONLY').read())
print(list(globals()), type(__loader__).__name__, __spec__ and __spec__.name, __doc__, __package__)
for s in (sys.stdin, sys.stdout, sys.stderr):
    b = s.buffer
    print(s.name, s.mode, s.encoding, s.errors, s.line_buffering, s.write_through, type(b).__name__,
          getattr(b, 'raw', b).name, s is getattr(sys, '__%s__' % s.name.strip('<>')))
print([signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD)])
print(sys.dont_write_bytecode, sys.exc_info())
"""

MULTIPROCESSING = """\
import multiprocessing, sys

def square(x):
    return x * x

if __name__ == '__main__':
    for method in ('fork', 'spawn'):
        with multiprocessing.get_context(method).Pool(2) as pool:
            print(method, pool.map(square, range(5)))
    print(multiprocessing.current_process().name)
"""

# name: (argv words after "python3", files in the directory, stdin)
CORPUS = {
    "hello": (["main.py"], {"main.py": "print('hello')\n"}, b""),
    "no_newline": (["main.py"], {"main.py": "import sys\nsys.stdout.write('partial')\n"}, b""),
    "no_newline_unbuffered": (["-u", "main.py"], {"main.py": "print('partial', end='')\n"}, b""),
    "interleaved": (["main.py"], {"main.py": "import sys\nprint('out1')\nprint('err', file=sys.stderr)\n"
                                             "print('out2')\n"}, b""),
    "interleaved_unbuffered": (["-u", "-B", "main.py"], {"main.py": "import sys\nprint('out1')\n"
                                                                    "print('err', file=sys.stderr)\n"}, b""),
    "input": (["main.py"], {"main.py": "name = input('name? ')\nprint('hi', name)\nprint(repr(input()))\n"},
              b"ada\n\xff\xfe\n"),
    "probe_script": (["main.py", "a", "b c"], {"main.py": PROBE}, b""),
    "probe_script_in_subdir": (["-B", "sub/../sub/main.py", "x"], {"sub/main.py": PROBE}, b""),
    "probe_c": (["-c", PROBE, "arg"], {}, b""),
    "probe_m": (["-u", "-m", "probe", "arg"], {"probe.py": PROBE}, b""),
    "value_error": (["main.py"], {"main.py": "x = 1\nraise ValueError('bad value')\n"}, b""),
    "nested_traceback": (["main.py"], {"main.py": "import helper\ndef outer():\n    helper.inner()\n"
                                                  "outer()\n",
                                       "helper.py": "def inner():\n    {}['missing']\n"}, b""),
    "chained": (["main.py"], {"main.py": "try:\n    1/0\nexcept ZeroDivisionError:\n"
                                         "    raise RuntimeError('during')\n"}, b""),
    "syntax_error": (["main.py"], {"main.py": "print('never')\nx = (\n"}, b""),
    "syntax_error_c": (["-c", "def f(:\n  pass"], {}, b""),
    "m_error": (["-m", "boom"], {"boom.py": "raise KeyError('k')\n"}, b""),
    "m_missing": (["-m", "no_such_module_here"], {}, b""),
    "missing_script": (["nothere.py"], {}, b""),
    "exit_3": (["main.py"], {"main.py": "import sys\nprint('before')\nsys.exit(3)\n"}, b""),
    "exit_msg": (["main.py"], {"main.py": "import sys\nsys.exit('fatal: message')\n"}, b""),
    "exit_none": (["main.py"], {"main.py": "import sys\nsys.exit(None)\n"}, b""),
    "exit_big": (["-c", "raise SystemExit(2**80)"], {}, b""),
    "exit_negative": (["-c", "raise SystemExit(-2)"], {}, b""),
    "keyboard_interrupt": (["main.py"], {"main.py": "print('x', flush=True)\nraise KeyboardInterrupt\n"}, b""),
    "thread_after_main": (["main.py"], {"main.py": "import threading, time\n"
                                                   "def late():\n    time.sleep(0.2)\n    print('late thread')\n"
                                                   "threading.Thread(target=late).start()\nprint('main done')\n"},
                          b""),
    "atexit": (["main.py"], {"main.py": "import atexit, sys\natexit.register(print, 'at exit', 1)\n"
                                        "atexit.register(lambda: print('first', sys.exc_info()))\n"
                                        "raise ValueError('then exit')\n"}, b""),
    "unclosed_files": (["main.py"], {"main.py": "open('f1', 'w').write('x')\nf = open('f2', 'w')\n"
                                                "f.write('y' * 10)\nclass Keep:\n    pass\nk = Keep()\n"
                                                "k.f = open('f3', 'w')\nk.f.write('z')\n"}, b""),
    "stdout_closed_fd": (["-c", "import os\nos.close(1)\nprint('lost')"], {}, b""),
    "stdout_replaced": (["-c", "import sys\nprint('x' * 10000)\nsys.stdout = None"], {}, b""),
    "pickle_main_function": (["main.py"], {"main.py": "import pickle\ndef f():\n    return 42\n"
                                                      "g = pickle.loads(pickle.dumps(f))\nprint(g is f, g())\n"},
                             b""),
    "numpy": (["main.py"], {"main.py": "import numpy as np\nprint(np.arange(6).reshape(2, 3).sum(axis=0))\n"
                                       "np.zeros(3)[5]\n"}, b""),
    "excepthook": (["main.py"], {"main.py": "import sys\nsys.excepthook = lambda t, v, tb: print('hook', t.__name__)\n"
                                            "raise OSError('e')\n"}, b""),
    "directory_script": (["app", "arg"], {"app/__main__.py": "import sys\nprint(sys.argv, sys.path[0])\n"}, b""),
    "logging_to_a_stream_kept_by_preload": (["main.py"], {"main.py": "import logging\nprint('out')\n"
                                                                     "logging.getLogger('preloaded').warning('w')\n"},
                                            b""),
    "unicode_and_surrogates": (["main.py"], {"main.py": "import sys\nprint('é ✓ 😀', '\\udcff')\n"
                                                        "print('\\udcfe', file=sys.stderr)\n"
                                                        "print(repr(sys.stdin.read()))\n"}, "ü\n".encode() + b"\xfe"),
    "input_eof": (["main.py"], {"main.py": "print(input('prompt> '))\n"}, b""),
    "deprecation_warning_in_main": (["main.py"], {"main.py": "import warnings\n"
                                                             "warnings.warn('old', DeprecationWarning)\n"
                                                             "warnings.warn('also', UserWarning)\n"}, b""),
    "signal_handler": (["main.py"], {"main.py": "import os, signal\n"
                                                "signal.signal(signal.SIGUSR1, lambda s, f: print('got', s))\n"
                                                "os.kill(os.getpid(), signal.SIGUSR1)\nprint('after')\n"}, b""),
    "fork_in_program": (["main.py"], {"main.py": "import os\nprint('before', flush=True)\npid = os.fork()\n"
                                                 "if pid == 0:\n    print('child')\nelse:\n"
                                                 "    os.waitpid(pid, 0)\n    print('parent')\n"}, b""),
    "multiprocessing_fork_and_spawn": (["main.py"], {"main.py": MULTIPROCESSING}, b""),
    "atexit_exits": (["-c", "import atexit, sys\natexit.register(sys.exit, 5)\nprint('x')"], {}, b""),
    "m_package": (["-m", "pkg", "x"], {"pkg/__init__.py": "print('init', __name__)\n",
                                       "pkg/__main__.py": "import sys\nprint(__name__, __package__, sys.argv)\n"
                                                          "raise SystemExit(7)\n"}, b""),
    "exit_builtin": (["-c", "print('bye')\nexit(4)"], {}, b""),
    "replaces_os_exit": (["-c", "import os, gc\nos._exit = gc.collect = print\nprint('still')\nraise SystemExit(6)"],
                         {}, b""),
    "big_output_and_input": (["main.py"], {"main.py": "import sys\ndata = sys.stdin.read()\n"
                                                      "for i in range(20000):\n    print(i, len(data))\n"
                                                      "sys.stderr.write('e' * 100000)\n"}, b"y" * 300000),
    "tempfile_tz": (["main.py"], {"main.py": "import tempfile, time\nprint(tempfile.gettempdir(), time.tzname)\n"},
                    b""),
}

RUNNER_CORPUS = {
    "runner_main": ("main", "def main():\n    print('side')\n    return {'n': data_n + 1}\n", b'{"data_n": 41}'),
    "runner_result": ("result", "result = [1.5, 'x']\n", b""),
    "runner_exception": ("main", "def main():\n    raise ValueError('in main')\n", b"{}"),
    "runner_exit": ("main", "import sys\ndef main():\n    sys.exit(4)\n", b""),
}


class WarmMatchesCold(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="jaild_warm_")
        self.addCleanup(shutil.rmtree, self.root)

    def both(self, argv, files, stdin=b"", channel=None, env=RUN_ENV, zygote_env=ZYGOTE_ENV):
        cold = functools.partial(run_cold, env=env)
        warm = functools.partial(run_warm, env=env, zygote_env=zygote_env)
        results = []
        for runner in (cold, warm):
            cwd = os.path.join(self.root, "work")
            shutil.rmtree(cwd, ignore_errors=True)
            for name, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(cwd, name)), exist_ok=True)
                with open(os.path.join(cwd, name), "w") as file:
                    file.write(text)
            os.makedirs(cwd, exist_ok=True)
            result = runner(argv, cwd, stdin, channel)
            result["files"] = snapshot(cwd)
            results.append(result)
        return results

    def test_corpus(self):
        for name, (words, files, stdin) in CORPUS.items():
            with self.subTest(name):
                cold, warm = self.both(["python3"] + words, files, stdin)
                self.assertEqual(warm, cold, name)
                self.assertNotIn(b"STALE", warm["stdout"] + warm["stderr"])

    def test_runner_modes(self):
        for name, (mode, source, data) in RUNNER_CORPUS.items():
            with self.subTest(name):
                argv = ["python3", "-u", RUNNER, mode, "main.py", "arg1"]
                cold, warm = self.both(argv, {"main.py": source}, b"", data)
                self.assertEqual(warm, cold, name)
                self.assertTrue(cold["answer"] or cold["status"] == 4, cold)

    def test_corpus_shows_what_it_compares(self):
        """A few cold answers pinned, so the comparison is not between two empty outputs."""
        cold, _ = self.both(["python3", "main.py"], {"main.py": "raise ValueError('v')\n"})
        self.assertEqual(cold["status"], 1)
        self.assertTrue(cold["stderr"].endswith(b"ValueError: v\n"))
        cold, warm = self.both(["python3", "-c", "raise KeyboardInterrupt"], {})
        self.assertEqual((cold["status"], warm["status"]), (-2, -2))


    def test_bytecode_written_unless_b(self):
        """Zygote and run without PYTHONDONTWRITEBYTECODE: a cold import writes __pycache__, -B does not."""
        env, zygote_env = without(RUN_ENV, "PYTHONDONTWRITEBYTECODE"), without(ZYGOTE_ENV, "PYTHONDONTWRITEBYTECODE")
        files = {"main.py": "import sys, helper\nprint(sys.dont_write_bytecode)\n", "helper.py": "x = 1\n"}
        for options in ([], ["-B"], ["-u", "-B"]):
            with self.subTest(options):
                cold, warm = self.both(["python3"] + options + ["main.py"], files, env=env, zygote_env=zygote_env)
                self.assertEqual(warm, cold)
                self.assertEqual(any(name.startswith("__pycache__") for name in cold["files"]), not options)

    def test_documented_differences(self):
        """What jaild_warm's docstring lists as differing, measured: the program runs one frame deeper.

        The simulated zygote calls run() from its own -c module, one more frame than jaild-zygote's C++.
        """
        source = ("import sys, traceback\ndef depth(n):\n    try:\n        return depth(n + 1)\n"
                  "    except RecursionError:\n        return n\nprint(depth(0), sys.getrecursionlimit())\n"
                  "traceback.print_stack()\n")
        cold, warm = self.both(["python3", "main.py"], {"main.py": source})
        cold_depth, cold_limit = map(int, cold["stdout"].split())
        warm_depth, warm_limit = map(int, warm["stdout"].split())
        self.assertEqual((cold_depth - warm_depth, cold_limit), (2, warm_limit))
        self.assertIn(b"jaild_warm.py", warm["stderr"])
        self.assertTrue(warm["stderr"].endswith(cold["stderr"]), (cold["stderr"], warm["stderr"]))


class WarmRuns(unittest.TestCase):
    def test_random_differs_in_every_run(self):
        """100 children of one zygote: `random`, numpy's global generator and the kernel's all differ."""
        code = ("import random, os, secrets, numpy\n"
                "print(random.random(), numpy.random.rand(), numpy.random.randn(), os.urandom(16).hex(),"
                " secrets.token_hex(8))")
        with tempfile.TemporaryDirectory() as cwd:
            result = run_warm(["python3", "-c", code], cwd, count=100)
        self.assertEqual(result["status"], [0] * 100, result["stderr"])
        rows = [line.split() for line in result["stdout"].decode().splitlines()]
        self.assertEqual(len(rows), 100)
        for column in zip(*rows):
            self.assertEqual(len(set(column)), 100, column)

    def test_refuses_other_command_lines(self):
        with tempfile.TemporaryDirectory() as cwd:
            result = run_warm(["python3", "-X", "dev", "main.py"], cwd)
        self.assertEqual(result["status"], 2)
        self.assertIn(b"not a warm command line", result["stderr"])

    def test_overhead(self):
        """From run() to the first line of a hello script: wall and CPU time, pages copied; bounded loosely.

        CPU time and minor faults (pages the child copies from the zygote, or maps) do not depend on
        what else the machine runs; wall time does.
        """
        script = ("import os, time\nwall, cpu = time.monotonic_ns(), time.process_time_ns()\n"
                  "faults = os.read(os.open('/proc/self/stat', os.O_RDONLY), 4096).rsplit(b')', 1)[1].split()[7]\n"
                  "faults0, cpu0, wall0 = map(int, os.environ['WARM_T0'].split(','))\n"
                  "print(wall - wall0, cpu - cpu0, int(faults) - faults0)\n")
        with tempfile.TemporaryDirectory() as cwd:
            with open(os.path.join(cwd, "main.py"), "w") as file:
                file.write(script)
            result = run_warm(["python3", "-u", "main.py"], cwd, count=50, stamp=True)
        self.assertEqual(result["status"], [0] * 50, result["stderr"])
        wall, cpu, faults = (statistics.median(column) for column in
                             zip(*(map(int, line.split()) for line in result["stdout"].decode().splitlines())))
        print(f"\nrun() to the first line of a hello script, median of 50: {wall / 1e6:.3f} ms wall, "
              f"{cpu / 1e6:.3f} ms CPU, {faults:.0f} minor faults", file=sys.stderr)
        self.assertLess(wall / 1e6, 20)


class Fits(unittest.TestCase):
    def test_grammar(self):
        for argv in (["python3", "main.py"], ["python3", "-u", "main.py", "-x"], ["python3", "-B", "-u", "-c", "1"],
                     ["python3", "-c", "", "a"], ["python3", "-u", "-u", "-m", "pkg.mod", "--flag"],
                     ["python3", "-u", "/opt/jaild/runner.py", "main", "main.py"]):
            self.assertTrue(jaild_warm.fits(argv), argv)
        for argv in ([], ["python3"], ["python3", "-u"], ["python", "main.py"], ["/usr/bin/python3", "m.py"],
                     ["python3", "-uB", "main.py"], ["python3", "-X", "dev", "m.py"], ["python3", "-"],
                     ["python3", "-c"], ["python3", "-m"], ["python3", "-m", ""], ["python3", ""],
                     ["python3", "-i", "m.py"], ["python3", "-E", "m.py"], "python3 main.py", ["python3", 3]):
            self.assertFalse(jaild_warm.fits(argv), argv)


if __name__ == "__main__":
    unittest.main()
