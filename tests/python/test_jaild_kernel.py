"""languages/support/jaild_kernel.py, started by jaild_agent.py as a kernel (START with "kernel": true) and
driven with CELL frames, as jaild drives an interpreter context.

Needs Debian's python3-ipython (and python3-matplotlib, python3-pandas for the rich results): run with
/usr/bin/python3 tests/python/test_jaild_kernel.py
"""

import base64
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_jaild_agent import (CELL, CELL_EVENT, ENV, EXIT, PYTHON, SIGNAL, STDERR, STDOUT, SUPPORT,  # noqa: E402
                              Agent)

KERNEL = os.path.join(SUPPORT, "jaild_kernel.py")
MISSING = [name for name in ("IPython", "matplotlib", "pandas") if importlib.util.find_spec(name) is None]


class Kernel:
    """A kernel process of an agent, and the events of its cells."""

    def __init__(self, agent, env=ENV, cwd="/tmp"):
        self.agent = agent
        self.pid = agent.spawn([PYTHON, "-I", KERNEL], env=env, cwd=cwd, kernel=True, stdin=False)

    def run(self, code):
        """(stdout, stderr, events) of one cell; events end with its "end"."""
        self.agent.send(CELL, self.pid, {"code": code})
        return self.collect()

    def collect(self):
        out, err, events = b"", b"", []
        while not events or events[-1]["type"] != "end":
            kind, _, payload = self.agent.take(
                lambda k, i, p: i == self.pid and k in (STDOUT, STDERR, CELL_EVENT, EXIT))
            if kind == EXIT:
                raise AssertionError(f"the kernel ended: {payload}, after {out} {err} {events}")
            if kind == STDOUT:
                out += payload
            elif kind == STDERR:
                err += payload
            else:
                events.append(json.loads(payload))
        return out, err, events


@unittest.skipIf(MISSING, f"not installed: {', '.join(MISSING)} (scripts/bootstrap installs them)")
class KernelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent()
        cls.tmp = tempfile.TemporaryDirectory()  # TMPDIR: matplotlib's cache goes there
        begin = time.perf_counter()
        cls.kernel = Kernel(cls.agent, env=ENV + [f"TMPDIR={cls.tmp.name}", f"HOME={cls.tmp.name}"])
        _, _, events = cls.kernel.run("1+1")
        cls.first_cell_ms = (time.perf_counter() - begin) * 1000
        cls.first_events = events

    @classmethod
    def tearDownClass(cls):
        assert cls.agent.close() == 0
        cls.tmp.cleanup()

    def run_cell(self, code):
        return self.kernel.run(code)

    def test_value_is_the_main_result(self):
        self.assertEqual(self.first_events, [{"type": "result", "text": "2", "is_main_result": True},
                                             {"type": "end", "execution_count": 1}])
        out, err, events = self.run_cell("'a' * 3")
        self.assertEqual((out, err), (b"", b""))
        self.assertEqual(events[0], {"type": "result", "text": "'aaa'", "is_main_result": True})
        self.assertEqual(events[-1]["type"], "end")
        self.assertEqual(self.run_cell("None; x = 1")[2][:-1], [])  # no value, no result
        self.assertEqual(self.run_cell("2 + 2;")[2][:-1], [])  # a trailing ';' hides it, as in IPython

    def test_state_persists_across_cells_and_errors(self):
        self.run_cell("x = 5\nimport os, math\nos.chdir('/')")
        self.assertEqual(self.run_cell("x * 2")[2][0]["text"], "10")
        out, err, events = self.run_cell("y = x + 1\n1/0")
        self.assertEqual(events[0]["type"], "error")
        self.assertEqual((events[0]["name"], events[0]["value"]), ("ZeroDivisionError", "division by zero"))
        self.assertIn("1/0", events[0]["traceback"])
        self.assertNotIn("\x1b[", events[0]["traceback"])
        self.assertEqual(events[1]["type"], "end")
        self.assertEqual(self.run_cell("(x, y, math.pi > 3, os.getcwd())")[2][0]["text"], "(5, 6, True, '/')")

    def test_print_comes_before_the_result(self):
        out, err, events = self.run_cell("import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n"
                                         "sys.stdout.write('no newline')\n42")
        self.assertEqual((out, err), (b"hello\nno newline", b"oops\n"))
        self.assertEqual(events, [{"type": "result", "text": "42", "is_main_result": True},
                                  {"type": "end", "execution_count": events[-1]["execution_count"]}])

    def test_output_order_with_display(self):
        """What a cell printed before an event comes before that event (on the agent's frame order).

        Only that way round: output printed after an event may reach the agent's pipe before the agent
        forwards the event, and it then goes first."""
        self.agent.send(CELL, self.kernel.pid, {"code": "from IPython.display import display\n"
                                                        "print('one')\ndisplay(2)\nprint('three')\n4"})
        sequence = []
        while not sequence or sequence[-1] != "end":
            kind, _, payload = self.agent.take(lambda k, i, p: i == self.kernel.pid and k in (STDOUT, CELL_EVENT))
            if kind == STDOUT:
                sequence += [line for line in payload.decode().split("\n") if line]
            else:
                event = json.loads(payload)
                sequence.append(event.get("text", event["type"]))
        self.assertEqual(sequence[-1], "end")
        self.assertLess(sequence.index("one"), sequence.index("2"))
        self.assertLess(sequence.index("three"), sequence.index("4"))
        self.assertEqual(sorted(sequence), sorted(["one", "2", "three", "4", "end"]))

    def test_execution_count_counts_cells(self):
        first = self.run_cell("1")[2][-1]["execution_count"]
        self.run_cell("1/0")
        self.run_cell("def broken(:")
        self.assertEqual(self.run_cell("1")[2][-1]["execution_count"], first + 3)

    def test_syntax_and_usage_errors(self):
        events = self.run_cell("def f(:\n  pass")[2]
        self.assertEqual((events[0]["type"], events[0]["name"]), ("error", "SyntaxError"))
        self.assertIn("def f(:", events[0]["traceback"])
        events = self.run_cell("%no_such_magic")[2]
        self.assertEqual((events[0]["name"], events[-1]["type"]), ("UsageError", "end"))

    def test_matplotlib_figure_is_a_png_result(self):
        out, err, events = self.run_cell("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nNone")
        self.assertEqual(err, b"")
        figures = [e for e in events if e["type"] == "result" and "png" in e]
        self.assertEqual(len(figures), 1, events)
        self.assertTrue(base64.b64decode(figures[0]["png"]).startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertEqual(figures[0]["text"], "<Figure size 640x480 with 1 Axes>")
        self.assertFalse(figures[0]["is_main_result"])
        # Closed once shown: the next cell shows nothing again.
        self.assertEqual(self.run_cell("len(plt.get_fignums())")[2][0]["text"], "0")
        # plt.show() shows at once, in order with the output.
        out, err, events = self.run_cell("plt.plot([1]); plt.show(); print('after')")
        self.assertEqual((out, [e["type"] for e in events]), (b"after\n", ["result", "end"]))

    def test_dataframe_has_html(self):
        events = self.run_cell("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})")[2]
        self.assertTrue(events[0]["is_main_result"])
        self.assertIn("<table", events[0]["html"])
        self.assertIn("a  b", events[0]["text"])

    def test_rich_forms(self):
        code = ("from IPython.display import display, HTML, Markdown, Latex, JSON, SVG, Javascript\n"
                "display(HTML('<b>b</b>'), Markdown('*m*'), Latex('$x$'), JSON({'k': [1]}), Javascript('1'))\n"
                "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))\n"
                "class Both:\n    def _repr_html_(self): return '<i>h</i>'\n"
                "    def _repr_png_(self): return b'\\x89PNG\\r\\n\\x1a\\npng'\n"
                "    def __repr__(self): return 'Both'\n"
                "Both()")
        events = self.run_cell(code)[2]
        self.assertEqual(events[0]["html"], "<b>b</b>")
        self.assertEqual(events[1]["markdown"], "*m*")
        self.assertEqual(events[2]["latex"], "$x$")
        self.assertEqual(json.loads(events[3]["json"]), {"k": [1]})
        self.assertEqual(events[4]["javascript"], "1")
        self.assertIn("<svg", events[5]["svg"])
        self.assertEqual([e["is_main_result"] for e in events[:6]], [False] * 6)
        self.assertEqual(events[6], {"type": "result", "text": "Both", "html": "<i>h</i>",
                                     "png": base64.b64encode(b"\x89PNG\r\n\x1a\npng").decode(),
                                     "is_main_result": True})

    def test_shell_escape_output(self):
        out, err, events = self.run_cell("!echo from-shell; echo to-stderr >&2")
        self.assertEqual((out, err), (b"from-shell\n", b"to-stderr\n"))

    def test_interrupt_a_long_cell(self):
        self.run_cell("before = 1")
        self.agent.send(CELL, self.kernel.pid, {"code": "import time\nprint('sleeping')\ntime.sleep(30)"})
        self.agent.output(self.kernel.pid, until=b"sleeping\n")
        begin = time.monotonic()
        self.agent.send(SIGNAL, self.kernel.pid, {"signal": 2})
        out, err, events = self.kernel.collect()
        self.assertLess(time.monotonic() - begin, 10)
        self.assertEqual([e["type"] for e in events], ["error", "end"])
        self.assertEqual(events[0]["name"], "KeyboardInterrupt")
        self.assertIn("time.sleep(30)", events[0]["traceback"])
        self.assertNotIn("jaild_kernel", events[0]["traceback"])
        self.assertEqual(self.run_cell("before + 1")[2][0]["text"], "2")

    def test_sigint_while_idle_is_ignored(self):
        self.run_cell("still = 'here'")
        self.agent.send(SIGNAL, self.kernel.pid, {"signal": 2})
        time.sleep(0.3)
        self.assertEqual(self.run_cell("still")[2][0]["text"], "'here'")

    def test_cell_output_of_child_processes(self):
        out, _, _ = self.run_cell("import subprocess\nsubprocess.run(['echo', 'child'])\nNone")
        self.assertEqual(out, b"child\n")

    def test_channel_is_not_inherited(self):
        out, _, _ = self.run_cell("import subprocess\nsubprocess.run(['ls', '/proc/self/fd'], close_fds=False)\n"
                                  "None")
        self.assertEqual(out.split(), [b"0", b"1", b"2", b"3"])  # 3: ls's own directory

    def test_large_result_is_cut_to_the_event_limit(self):
        out, err, events = self.run_cell("from IPython.display import HTML\nHTML('x' * 3000000)")
        self.assertEqual(events[0]["type"], "result")
        self.assertNotIn("html", events[0])
        self.assertIn(b"over the 1 MiB event limit", err)

    def test_first_cell_time(self):
        print(f"\nkernel: first cell (cold start + 1+1) {self.first_cell_ms:.0f} ms", file=sys.stderr)


@unittest.skipIf(MISSING, f"not installed: {', '.join(MISSING)}")
class KernelProcess(unittest.TestCase):
    def setUp(self):
        self.agent = Agent()
        self.tmp = tempfile.TemporaryDirectory()  # TMPDIR: matplotlib's cache goes there
        self.env = ENV + [f"TMPDIR={self.tmp.name}", f"HOME={self.tmp.name}"]

    def tearDown(self):
        self.assertEqual(self.agent.close(), 0)
        self.tmp.cleanup()

    def test_exit_ends_the_kernel(self):
        kernel = Kernel(self.agent, env=self.env)
        self.assertEqual(kernel.run("exit()")[2][-1]["type"], "end")
        self.assertEqual(self.agent.finish(kernel.pid)[2], {"exit_code": 0, "signal": 0})

    def test_no_ipython_files_in_home_or_tmp(self):
        with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as tmp:
            kernel = Kernel(self.agent, env=ENV + [f"HOME={home}", f"TMPDIR={tmp}", "PYTHONDONTWRITEBYTECODE=1"],
                            cwd=home)
            kernel.run("import IPython\nx = 1")
            # Magics that keep state in IPython's db (a directory of the profile, in IPython itself).
            events = kernel.run("%cd /\n%bookmark here\n%cd -q -\nimport os\nos.getcwd()")[2]
            self.assertEqual(events[0]["text"], repr(home), events)
            kernel.run("with open('mod_here.py', 'w') as f: f.write('VALUE = 7')")
            self.assertEqual(kernel.run("import mod_here; mod_here.VALUE")[2][0]["text"], "7")
            self.agent.send(SIGNAL, kernel.pid, {"signal": 15})
            self.agent.finish(kernel.pid)
            self.assertEqual(os.listdir(home), ["mod_here.py"])  # no .ipython, no __pycache__
            self.assertEqual(os.listdir(tmp), [])

    def test_later_cells_are_fast(self):
        kernel = Kernel(self.agent, env=self.env)
        kernel.run("1+1")
        times = []
        for _ in range(30):
            begin = time.perf_counter()
            self.assertEqual(kernel.run("1+1")[2][0]["text"], "2")
            times.append((time.perf_counter() - begin) * 1000)
        print(f"\nkernel: cell 1+1 after the first, median of 30: {statistics.median(times):.2f} ms", file=sys.stderr)

    def test_matplotlib_inline_magic(self):
        """Notebooks' `%matplotlib inline`: Jupyter's inline backend, its figures shown once."""
        kernel = Kernel(self.agent, env=self.env)
        self.assertEqual(kernel.run("%matplotlib inline")[2], [{"type": "end", "execution_count": 1}])
        out, err, events = kernel.run("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('drawn')")
        self.assertEqual((out, err), (b"drawn\n", b""))
        self.assertEqual([("png" in e, e["type"]) for e in events], [(True, "result"), (False, "end")])
        self.assertTrue(base64.b64decode(events[0]["png"]).startswith(b"\x89PNG"))

    def test_bad_cell_frames_answer_an_error(self):
        kernel = Kernel(self.agent, env=self.env)
        self.agent.send(CELL, kernel.pid, b"not json")
        events = kernel.collect()[2]
        self.assertEqual([e["type"] for e in events], ["error", "end"])
        self.assertEqual(kernel.run("'fine'")[2][0]["text"], "'fine'")


if __name__ == "__main__":
    unittest.main()
