#!/usr/bin/python3
"""The playground in a real browser: headless Chromium (Selenium, chromedriver) loads the page the gateway serves
at / and uses it as a person would: keys typed into the editor, buttons clicked, a file uploaded, a terminal typed
into. tests/gateway/test_gateway_playground.cc starts jaild and a gateway with keys and runs this.

    playground_browser.py GATEWAY_URL API_KEY AXE_JS SCREENSHOT_DIR

Each check prints "ok: what" or "FAILED: what"; the exit code is 0 only when all passed. Screenshots of the page
after a run (wide and 390 px) go to SCREENSHOT_DIR. Prints "SKIPPED: <why>" and exits 77 when Chromium,
chromedriver or Selenium is missing.
"""
import json
import os
import shutil
import sys
import tempfile
import time

failures = []


def check(what, condition, detail=""):
    print(("ok: " if condition else "FAILED: ") + what + ("" if condition else " -- " + str(detail)[:2000]), flush=True)
    if not condition:
        failures.append(what)


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 "--user-data-dir=" + profile):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


class Page:
    def __init__(self, driver):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        self.driver = driver
        self.By = By
        self.Select = Select

    def el(self, testid):
        return self.driver.find_element(self.By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def text(self, testid):
        return self.el(testid).text

    def state(self):
        return self.el("status").get_attribute("data-state")

    def wait(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return True
            except Exception:  # an element not there yet
                pass
            time.sleep(0.05)
        check(what, False, f"timed out; status: {self.text('status')!r}, output: {self.text('output')!r}")
        return False

    def pick(self, value):
        self.Select(self.el("language")).select_by_value(value)

    def type_code(self, code):
        """Types the code into CodeMirror as keys, as a person does (Ctrl-A first replaces what is there)."""
        from selenium.webdriver.common.keys import Keys

        self.driver.find_element(self.By.CSS_SELECTOR, ".CodeMirror").click()
        field = self.el("editor-input")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        field.send_keys(code)

    def set_key(self, key):
        field = self.el("api-key")
        field.clear()
        field.send_keys(key)
        self.el("stdin").click()  # leaving the field stores the key (its change event)

    def run_and_wait(self, timeout=60):
        self.el("run").click()
        self.wait("the run ends", lambda: self.state() not in ("running", "idle"), timeout)


def keyboard(page):
    from selenium.webdriver.common.keys import Keys

    page.el("language").send_keys(Keys.TAB)  # from the picker into the editor
    active = lambda: page.driver.execute_script("return document.activeElement.dataset.testid")
    check("Tab moves from the language picker into the editor", active() == "editor-input", active())
    page.el("editor-input").send_keys(Keys.TAB)
    check("Tab in the editor indents and stays there", active() == "editor-input", active())
    page.el("editor-input").send_keys(Keys.ESCAPE, Keys.TAB)
    check("Escape then Tab leaves the editor for the next control", active() == "stdin", active())
    page.el("stdin").send_keys(Keys.SHIFT, Keys.TAB)
    check("Shift-Tab goes back into the editor", active() == "editor-input", active())


def wrong_key(page, key):
    page.wait("the page says a key is needed", lambda: "needs an API key (401)" in page.text("status"), 20)
    page.set_key("not-a-key")
    page.pick("script")
    page.run_and_wait()
    status = page.text("status")
    check("a wrong key shows the 401 message", page.state() == "unauthorized"
          and "refused the API key (401)" in status and "unknown API key" in status, status)
    page.set_key(key)
    page.wait("the languages load with the key", lambda: len(page.Select(page.el("language")).options) > 3, 20)


def streamed_python(page, shots):
    page.pick("python")
    page.type_code("import time\nprint('first line', flush=True)\ntime.sleep(2)\nprint('second line')")
    page.el("run").click()
    page.wait("the first line arrives", lambda: "first line" in page.text("output"), 30)
    during = page.text("output")
    check("the first line arrived while the run went on", page.state() == "running" and "second line" not in during,
          f"state {page.state()}, output {during!r}")
    page.wait("the run ends", lambda: page.state() != "running", 30)
    status = page.text("status")
    check("python's run finished ok", page.state() == "ok" and "exit code 0" in status, status)
    check("the status names wall, CPU and peak memory", all(w in status for w in ("wall", "CPU", "peak memory")),
          status)
    check("both lines in the output", "first line\nsecond line" in page.text("output"), page.text("output"))
    page.driver.save_screenshot(os.path.join(shots, "playground-stream.png"))


def stderr_and_stop(page):
    page.pick("python")
    page.type_code("import sys, time\nprint('to stderr', file=sys.stderr, flush=True)\ntime.sleep(30)")
    page.el("run").click()
    page.wait("stderr arrives", lambda: "to stderr" in page.text("output"), 30)
    spans = page.driver.find_elements(page.By.CSS_SELECTOR, '[data-testid="output"] .stderr')
    check("stderr is told apart", any("to stderr" in s.text for s in spans))
    check("stop is enabled while running", page.el("stop").is_enabled())
    page.el("stop").click()
    page.wait("the run stops", lambda: page.state() == "cancelled", 15)
    check("run is enabled again after stop", page.el("run").is_enabled())


def limit_in_words(page):
    page.pick("python")
    field = page.el("limit-time")
    field.clear()
    field.send_keys("300")
    page.type_code("while True:\npass")
    page.run_and_wait()
    status = page.text("status")
    check("a limit that ended the run is named in words", page.state() == "timeout" and "Time limit reached" in status
          and "300 ms" in status, status)
    page.el("limit-time").clear()


def compile_error(page):
    from selenium.webdriver.common.keys import Keys

    page.pick("c")
    page.type_code("int main(void) { return undefined_name; }")
    page.el("editor-input").send_keys(Keys.CONTROL, Keys.ENTER)  # Ctrl-Enter runs
    page.wait("the compile ends", lambda: page.state() not in ("running", "idle"), 60)
    status = page.text("status")
    check("a C compile error is shown as such", page.state() == "compile_error" and "Compile error" in status, status)
    check("the compiler's message is in the output", "undefined_name" in page.text("output"), page.text("output"))


def script_mode(page, shots):
    page.pick("script")
    page.type_code("def main():\nprint('working on it')\nreturn {'answer': 6 * 7, 'items': [1, 2]}")
    page.run_and_wait()
    result = page.text("result")
    check("script mode finished ok", page.state() == "ok", page.text("status"))
    try:
        check("main()'s result shown as formatted JSON", json.loads(result) == {"answer": 42, "items": [1, 2]}
              and "\n" in result, result)
    except ValueError:
        check("main()'s result shown as formatted JSON", False, result)
    check("the script's print is output, not result", "working" in page.text("output"))
    page.driver.save_screenshot(os.path.join(shots, "playground.png"))


def session_upload(page, workdir):
    page.el("session-new").click()
    page.wait("a session is chosen", lambda: page.Select(page.el("session")).first_selected_option.get_attribute("value"))
    path = os.path.join(workdir, "data.txt")
    with open(path, "w") as f:
        f.write("hello from an upload\n")
    page.el("upload").send_keys(path)
    page.el("upload-send").click()
    page.wait("the upload is listed", lambda: "data.txt" in page.text("files"), 20)
    page.pick("python")
    page.type_code("print(open('data.txt').read().upper())")
    page.run_and_wait()
    check("a run in the session reads the uploaded file", "HELLO FROM AN UPLOAD" in page.text("output"),
          page.text("output"))
    page.type_code("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.savefig('figure.png')")
    page.run_and_wait(90)
    page.wait("the figure is shown inline", lambda: page.driver.execute_script(
        "const i = document.querySelector('[data-testid=figures] img'); return i && i.complete && i.naturalWidth > 0;"),
        30)


def terminal(page):
    page.el("session-new-live").click()
    page.wait("a live session is chosen", lambda: page.el("terminal-open").is_enabled(), 30)
    page.el("terminal-open").click()
    screen = lambda: page.driver.execute_script(
        "const t = document.querySelector('[data-testid=terminal] .terminal'); return t ? t.textContent : '';")
    page.wait("the shell's prompt shows", lambda: "$" in screen() or "#" in screen(), 30)
    from selenium.webdriver.common.action_chains import ActionChains

    page.driver.find_element(page.By.CSS_SELECTOR, "[data-testid=terminal] .terminal").click()
    ActionChains(page.driver).send_keys("echo terminal-$((6 * 7))\n").perform()
    page.wait("the terminal echoes the command's output", lambda: "terminal-42" in screen(), 30)
    check("the terminal shows the shell's answer", "terminal-42" in screen(), screen())
    page.driver.execute_script("document.querySelector('[data-testid=terminal]').scrollIntoView()")
    page.driver.save_screenshot(os.path.join(page.shots, "playground-session.png"))


def live_cells(page, shots):
    """The live session of terminal() is still picked: plain Python runs as cells of one context."""
    page.pick("c")
    page.el("run").click()
    page.wait("another language in a live session says what to do", lambda: page.state() == "unsupported", 10)
    check("the message names the terminal and the other sessions", "terminal" in page.text("status")
          and "fresh sandbox" in page.text("status"), page.text("status"))
    page.pick("python")
    check("the page says cells share variables", "cells share variables" in page.text("run-mode"), page.text("run-mode"))
    check("the restart button shows for cells", page.el("context-restart").is_displayed())
    page.type_code("x = 41")
    page.run_and_wait(90)
    check("the first cell ran", page.state() == "ok" and "Cell [1]" in page.text("status"), page.text("status"))
    page.type_code("print(x + 1)")
    page.run_and_wait()
    check("the next cell sees the first one's variable", page.text("output").strip() == "42", page.text("output"))
    page.type_code("import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr, flush=True)\nx * 2")
    page.run_and_wait()
    spans = page.driver.find_elements(page.By.CSS_SELECTOR, '[data-testid="output"] .stderr')
    check("a cell's stderr is told apart", [s.text for s in spans] == ["err"], [s.text for s in spans])
    check("the cell's value is shown", page.text("result") == "82", page.text("result"))
    page.type_code("1 / 0")
    page.run_and_wait()
    check("a cell's error is shown with its name and value", page.state() == "cell_error"
          and "ZeroDivisionError: division by zero" in page.text("status"), page.text("status"))
    check("the traceback is in the output", "ZeroDivisionError" in page.text("output")
          and page.driver.find_elements(page.By.CSS_SELECTOR, '[data-testid="output"] .error'), page.text("output"))
    page.type_code("import time\nprint('sleeping', flush=True)\ntime.sleep(60)")
    page.el("run").click()
    page.wait("the cell prints before it sleeps", lambda: "sleeping" in page.text("output"), 30)
    page.el("stop").click()
    page.wait("Stop interrupts the cell", lambda: page.state() == "cancelled", 20)
    check("the interrupt is named", "KeyboardInterrupt" in page.text("status"), page.text("status"))
    page.el("context-restart").click()
    page.wait("Python restarts", lambda: "restarted" in page.text("status"), 20)
    page.type_code("x")
    page.run_and_wait(90)
    check("after the restart the variable is gone", page.state() == "cell_error" and "NameError" in page.text("status"),
          page.text("status"))
    page.type_code("x = 41\nimport matplotlib.pyplot as plt\nprint('plotting', x + 1)\nplt.plot([1, 2, 3])")
    page.run_and_wait(90)
    figure = "document.querySelector('[data-testid=output] img')"
    page.wait("the figure is shown inline in the output", lambda: page.driver.execute_script(
        f"const i = {figure}; return i && i.complete && i.naturalWidth > 0;"), 30)
    src, alt = page.driver.execute_script(f"const i = {figure}; return i ? [i.src, i.alt] : ['', ''];")
    check("the figure is a PNG data URL", src.startswith("data:image/png;base64,iVBOR"), src[:60])
    check("the figure has an alt text", alt.startswith("Figure from the cell"), alt)
    check("the print is beside the figure", "plotting 42" in page.text("output"), page.text("output"))
    page.driver.execute_script("window.scrollTo(0, 0)")
    page.driver.save_screenshot(os.path.join(shots, "playground-live.png"))


def accessibility(page, axe_js):
    with open(axe_js) as f:
        page.driver.execute_script(f.read())
    found = page.driver.execute_async_script(
        "const done = arguments[0];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map("
        "  v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))));")
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    check("axe-core finds no serious or critical violation", not serious, json.dumps(serious, indent=1))
    print("axe-core (all impacts): " + json.dumps([(v["id"], v["impact"]) for v in found]), flush=True)


def narrow(page, shots):
    page.driver.set_window_size(390, 844)
    time.sleep(0.5)
    width = page.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
    check("at 390 px nothing scrolls sideways", width[0] <= width[1], width)
    rect = page.driver.execute_script(
        "const r = document.querySelector('[data-testid=run]').getBoundingClientRect(); return [r.left, r.right];")
    check("at 390 px the run button is on screen", rect[0] >= 0 and rect[1] <= width[1], rect)
    page.driver.save_screenshot(os.path.join(shots, "playground-390.png"))
    page.driver.set_window_size(1280, 1000)


def console_errors(driver):
    entries = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    # The 401 answers the page got before its key was entered are expected; nothing else is.
    unexpected = [e["message"] for e in entries if "401" not in e["message"]]
    check("no errors in the browser's console (CSP, missing files, exceptions)", not unexpected, unexpected)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    gateway, key, axe_js, shots = sys.argv[1:]
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3-selenium")
    if missing:
        print("SKIPPED: not installed: " + ", ".join(missing))
        sys.exit(77)
    with tempfile.TemporaryDirectory() as workdir:
        driver = browser(os.path.join(workdir, "profile"))
        try:
            driver.set_script_timeout(60)
            driver.get(gateway + "/")
            page = Page(driver)
            page.shots = shots
            page.wait("the page is ready", lambda: driver.execute_script("return document.body.dataset.ready"), 20)
            check("the editor is CodeMirror", driver.find_elements(page.By.CSS_SELECTOR, '[data-testid=editor] .CodeMirror'))
            keyboard(page)
            wrong_key(page, key)
            limits = driver.find_element(page.By.ID, "limit-time-help").text
            check("the limits show the caller's default and maximum", "default" in limits and "at most" in limits,
                  limits)
            streamed_python(page, shots)
            stderr_and_stop(page)
            limit_in_words(page)
            compile_error(page)
            script_mode(page, shots)
            session_upload(page, workdir)
            terminal(page)
            live_cells(page, shots)
            accessibility(page, axe_js)
            narrow(page, shots)
            console_errors(driver)
        finally:
            driver.quit()
    print(f"{len(failures)} failed" if failures else "all passed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
