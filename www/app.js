// The jaild playground: a page over the gateway's own HTTP API (docs/api.md), served by the gateway itself.
// Plain ES module, no build step; CodeMirror and term.js are Debian's, loaded by index.html as globals.
import { streamRun, describe, formatBytes } from "./run.js";
import { runCell, interruptCell, restartContext, hasContext, forgetContext } from "./cell.js";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "jaild.api_key";

// The CodeMirror mode of each language jaild names (GET /languages); others get plain text.
const MODES = {
  python: "text/x-python", c: "text/x-csrc", cpp: "text/x-c++src", "c++": "text/x-c++src",
  node: "text/javascript", javascript: "text/javascript", bash: "text/x-sh", sh: "text/x-sh", perl: "text/x-perl",
};
const SAMPLES = {
  script: 'def main():\n    import statistics\n    data = [3, 1, 4, 1, 5, 9, 2, 6]\n    print("summarising", len(data), "numbers")\n    return {"mean": statistics.mean(data), "max": max(data)}\n',
  cell: 'import matplotlib.pyplot as plt\ndata = [3, 1, 4, 1, 5, 9, 2, 6]\nprint("plotting", len(data), "numbers")\nplt.plot(data)\n',
  python: 'import sys\nname = sys.stdin.read().strip() or "world"\nprint(f"hello, {name}")\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    printf("hello from C\\n");\n    return 0;\n}\n',
  cpp: '#include <iostream>\n\nint main() {\n    std::cout << "hello from C++\\n";\n}\n',
  node: 'console.log("hello from node", process.version);\n',
  bash: 'echo "hello from $0 on $(uname -s)"\n',
  sh: 'echo "hello from sh"\n',
  perl: 'print "hello from perl $^V\\n";\n',
};

const state = { controller: null, cell: null, limits: null, sessions: [], editor: null, terminal: null };

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

// Every API call: the key as a header when one is set; JSON answers parsed; failures as {status, error}. `raw`
// returns every answer as it came; `stream` returns a successful one unread (NDJSON) and throws for a failure.
async function api(method, path, { body, headers = {}, raw = false, stream = false, signal } = {}) {
  const all = { ...headers };
  if (apiKey()) all.Authorization = "Bearer " + apiKey();
  if (body !== undefined && !(body instanceof Blob) && typeof body !== "string") {
    all["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers: all, body, signal });
  if (raw || (stream && response.ok)) return response;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!response.ok) throw Object.assign(new Error(errorText(response.status, data)), { status: response.status });
  return data;
}

// An error answer in words; a 401 says what to do about the key.
function errorText(status, data) {
  const said = data && data.error ? data.error : "HTTP " + status;
  if (status === 401 && !apiKey()) return "The gateway needs an API key (401): " + said + ". Enter yours above.";
  if (status === 401) return "The gateway refused the API key (401): " + said + ". Enter a valid key above.";
  if (status === 429) return "Too many requests (429): " + said;
  if (status === 503) return "jaild is not reachable (503): " + said;
  return said + (data && data.field ? " (field " + data.field + ")" : "");
}

function setStatus(text, stateName) {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = stateName;
}

function language() { return $("language").value; }

// Where Run sends the code: "fresh" (POST /execute), "session" (a session's /execute), "cell" (plain Python in a
// live session: a cell of its interpreter context) or "live-other" (any other language in a live session, which
// runs processes, not /execute: the page says to use the terminal or another session).
function runMode() {
  const session = currentSession();
  if (!session) return "fresh";
  if (!session.live) return "session";
  return language() === "python" ? "cell" : "live-other";
}

const CELL_FIELDS = ["stdin", "args", "limit-time", "limit-mem"];  // what a cell does not take

// The line beside Run says where the code runs; a cell's page has its restart button and no stdin, arguments,
// CPU or memory limit (the session's own limits hold; the wall time interrupts the cell).
function showMode() {
  const mode = runMode();
  const text = {
    fresh: "Runs in a fresh sandbox.",
    session: "Runs in the session: its files stay, each run is a new process.",
    cell: "Runs as a cell of the live session's Python: cells share variables in a live session. Figures show " +
          "inline. Stdin, arguments and the CPU and memory limits do not apply; the wall time interrupts the cell.",
    "live-other": "A live session runs plain Python as cells from here. For " +
                  (language() === "script" ? "the script mode" : language()) + ", open a terminal below (a shell " +
                  "in the same sandbox), or pick a plain session or a fresh sandbox (Run in, below).",
  }[mode];
  $("run-mode").textContent = text;
  $("context-restart").hidden = mode !== "cell";
  for (const id of CELL_FIELDS) $(id).disabled = mode === "cell";
  $("result-heading").textContent = mode === "cell" ? "Value of the cell" : "Result of main()";
  showLimits();
  showSample(mode);
}

function setupEditor() {
  state.editor = window.CodeMirror($("editor"), {
    value: SAMPLES.script, mode: MODES.python, lineNumbers: true, lineWrapping: true, indentUnit: 4, viewportMargin: Infinity,
    screenReaderLabel: "Code",
    extraKeys: {
      "Ctrl-Enter": () => run(), "Cmd-Enter": () => run(),
      // Tab indents, as in any editor; Escape then Tab (or Shift-Tab) leaves the editor, so no keyboard user is
      // trapped in it.
      Esc: (cm) => { cm.state.leaveOnTab = true; },
    },
  });
  state.editor.on("keydown", (cm, event) => {
    if (event.key === "Tab" && cm.state.leaveOnTab) event.codemirrorIgnore = true;  // the browser moves the focus
    if (event.key !== "Escape") cm.state.leaveOnTab = false;
  });
  const input = state.editor.getInputField();
  input.setAttribute("aria-describedby", "editor-help");
  input.dataset.testid = "editor-input";
}

function chooseLanguage() {
  const name = language();
  state.editor.setOption("mode", MODES[name === "script" ? "python" : name] || null);
  showMode();
}

// The editor gets the sample of the language (or of a cell) unless the person wrote code of their own.
function showSample(mode) {
  const previous = state.editor.getValue();
  const sample = SAMPLES[mode === "cell" ? "cell" : language()] || "";
  if ((Object.values(SAMPLES).includes(previous) || previous.trim() === "") && previous !== sample) {
    state.editor.setValue(sample);
  }
}

async function loadLanguages() {
  try {
    const { languages } = await api("GET", "/languages");
    const select = $("language");
    const chosen = select.value;
    select.length = 1;  // the script mode stays first
    for (const lang of languages) {
      const option = document.createElement("option");
      option.value = lang.name;
      option.textContent = `${lang.name} ${lang.version}`.trim();
      select.append(option);
    }
    select.value = chosen;
    if (select.selectedIndex < 0) select.selectedIndex = 0;
  } catch (error) {
    setStatus("Could not list the languages: " + error.message, error.status === 401 ? "unauthorized" : "error");
  }
}

// Defaults and maxima shown beside the limit fields (GET /limits: this caller's, per tenant).
async function loadLimits() {
  try {
    state.limits = await api("GET", "/limits");
  } catch {
    state.limits = null;
  }
  showLimits();
}

function showLimits() {
  const limits = state.limits;
  const rows = [["time", "cpu_ms", (v) => v + " ms"], ["wall", "wall_ms", (v) => v + " ms"],
                ["mem", "memory_kb", (v) => formatBytes(v * 1024)]];
  for (const [name, field, unit] of rows) {
    const input = $("limit-" + name);
    const help = $("limit-" + name + "-help");
    if (!limits) { help.textContent = ""; continue; }
    const defaults = language() === "script" && limits.script_defaults[field] ? limits.script_defaults : limits.defaults;
    input.max = limits.maxima[field];
    input.placeholder = defaults[field];
    help.textContent = `default ${unit(defaults[field])}, at most ${unit(limits.maxima[field])}`;
    if (runMode() !== "cell") continue;
    input.placeholder = "";
    help.textContent = name === "wall" ? "interrupts the cell after this long; empty: no limit" : "not for a cell";
  }
}

function requestBody() {
  const body = { stream: true };
  const code = state.editor.getValue();
  if (language() === "script") body.script = code;
  else Object.assign(body, { language: language(), code });
  const stdin = $("stdin").value;
  if (stdin) body.stdin = stdin;
  const args = $("args").value.split("\n").filter((line) => line !== "");
  if (args.length) body.args = args;
  for (const name of ["time", "wall", "mem"]) {
    const value = $("limit-" + name).value.trim();
    if (value) body[name] = Number(value);
  }
  return body;
}

function appendOutput(stream, text) {
  const output = $("output");
  const last = output.lastElementChild;
  if (last && last.className === stream) {
    last.textContent += text;
  } else {
    const span = document.createElement("span");
    span.className = stream;
    span.textContent = text;
    output.append(span);
  }
  output.scrollTop = output.scrollHeight;
}

async function run() {
  if (state.controller || state.cell) return;
  const mode = runMode();
  if (mode === "live-other") return setStatus($("run-mode").textContent, "unsupported");
  $("output").textContent = "";
  $("result").textContent = "";
  const session = $("session").value;
  if (mode === "cell") return runInContext(session);
  const path = session ? `/sessions/${encodeURIComponent(session)}/execute` : "/execute";
  state.controller = new AbortController();
  $("run").disabled = true;
  $("stop").disabled = false;
  setStatus("Running...", "running");
  try {
    const response = await api("POST", path, {
      body: requestBody(), headers: { Accept: "application/x-ndjson" }, raw: true, signal: state.controller.signal,
    });
    if (!response.headers.get("Content-Type")?.startsWith("application/x-ndjson")) {
      const data = await response.json().catch(() => null);
      if (data && data.status) finish(data);  // the script dialect answers a result with 400
      else setStatus(errorText(response.status, data), response.status === 401 ? "unauthorized" : "error");
    } else {
      const result = await streamRun(response, {
        output: appendOutput, progress: (message) => setStatus(message, "running"),
      });
      if (result) finish(result);
      else setStatus("The stream ended without a result.", "error");
    }
  } catch (error) {
    if (error.name === "AbortError") setStatus("Stopped: you stopped the run (it was cancelled).", "cancelled");
    else setStatus("The request failed: " + error.message, "error");
  } finally {
    state.controller = null;
    $("run").disabled = false;
    $("stop").disabled = true;
  }
  if (session) refreshFiles();
}

function finish(result) {
  const { text, kind } = describe(result);
  // A compile error's messages are the compiler's stderr, shown as such when the stream had none of it.
  if (result.status === "compile_error" && !$("output").textContent) appendOutput("stderr", result.stderr);
  setStatus(text, kind);
  if (result.result !== null && result.result !== undefined) $("result").textContent = JSON.stringify(result.result, null, 2);
  else if (result.trace) $("result").textContent = result.trace;
}

function stop() {
  if (state.controller) state.controller.abort();
  if (state.cell) {
    setStatus("Interrupting the cell...", "running");
    interruptCell(api, state.cell).catch((error) => setStatus("Could not interrupt: " + error.message, "error"));
  }
}

// A cell in the live session's context: output streamed as it comes, figures inline, the value and the error.
async function runInContext(session) {
  state.cell = session;
  $("run").disabled = true;
  $("stop").disabled = false;
  setStatus(hasContext(session) ? "Running the cell..." : "Starting Python in the session, then running the cell...",
            "running");
  const wall = $("limit-wall").value.trim();
  const started = performance.now();
  try {
    const view = { output: appendOutput, result: showCellResult, error: showCellError };
    const end = await runCell(api, session, state.editor.getValue(), wall ? Number(wall) : 0, view);
    const took = `wall ${Math.round(performance.now() - started)} ms`;
    const count = end.count === null ? "The cell" : `Cell [${end.count}]`;
    if (!end.error) setStatus(`${count} finished; ${took}. Its variables stay for the next cell.`, "ok");
    else if (end.error.name === "KeyboardInterrupt") setStatus(`${count} was interrupted (KeyboardInterrupt); ${took}.`, "cancelled");
    else setStatus(`${count} raised ${end.error.name}: ${end.error.value}; ${took}.`, "cell_error");
  } catch (error) {
    setStatus("The cell could not run: " + error.message, error.status === 401 ? "unauthorized" : "error");
  } finally {
    state.cell = null;
    $("run").disabled = false;
    $("stop").disabled = true;
  }
  refreshFiles();
}

// A display or the cell's value: a PNG or JPEG as an image in the output, where it came; the value's text in
// the result box; another display's text in the output.
function showCellResult(event) {
  const text = event.text ?? (event.json !== undefined ? JSON.stringify(event.json, null, 2) : "");
  if (event.png || event.jpeg) {
    const image = document.createElement("img");
    image.className = "cell-figure";
    image.src = event.png ? "data:image/png;base64," + event.png : "data:image/jpeg;base64," + event.jpeg;
    image.alt = "Figure from the cell" + (text ? ": " + text : "");
    $("output").append(image);
    if (!event.is_main_result) return;
  }
  if (event.is_main_result) $("result").textContent = text;
  else if (text) appendOutput("display", text + "\n");
}

function showCellError(event) {
  appendOutput("error", (event.traceback || `${event.name}: ${event.value}`) + "\n");
}

async function restartPython() {
  const session = $("session").value;
  try {
    const restarted = await restartContext(api, session);
    setStatus(restarted ? "Python restarted: the next cell starts with no variables." : "Python has not started in this session yet.", "idle");
  } catch (error) {
    forgetContext(session);
    setStatus("Could not restart (the next cell starts a fresh Python): " + error.message, "error");
  }
}

// Sessions: the caller's, a new one (live or not), its files, uploads and downloads.
async function loadSessions(select) {
  try {
    const { sessions } = await api("GET", "/sessions");
    state.sessions = sessions;
    const picker = $("session");
    picker.length = 1;
    for (const s of sessions) {
      const option = document.createElement("option");
      option.value = s.session_id;
      option.textContent = (s.name || s.session_id.slice(0, 12)) + (s.live ? " (live)" : "");
      picker.append(option);
    }
    if (select) picker.value = select;
  } catch (error) {
    if (error.status === 401) setStatus(error.message, "unauthorized");
  }
  sessionChosen();
}

function currentSession() { return state.sessions.find((s) => s.session_id === $("session").value) || null; }

function sessionChosen() {
  const session = currentSession();
  for (const id of ["session-delete", "upload", "upload-send"]) $(id).disabled = !session;
  $("terminal-open").disabled = !(session && session.live);
  showMode();
  refreshFiles();
}

async function newSession(live) {
  try {
    const session = await api("POST", "/sessions", { body: live ? { live: true } : {} });
    await loadSessions(session.session_id);
    setStatus(`Session ${session.session_id.slice(0, 12)} created${live ? " (live)" : ""}.`, "idle");
  } catch (error) {
    setStatus("Could not create a session: " + error.message, error.status === 401 ? "unauthorized" : "error");
  }
}

async function deleteSession() {
  const session = currentSession();
  if (!session) return;
  await api("DELETE", `/sessions/${session.session_id}`).catch(() => {});
  forgetContext(session.session_id);
  closeTerminal();
  await loadSessions("");
}

function fileUrl(session, path) {
  return `/sessions/${session}/files/` + path.split("/").map(encodeURIComponent).join("/");
}

async function refreshFiles() {
  const body = $("files");
  const figures = $("figures");
  body.textContent = "";
  figures.textContent = "";
  const session = currentSession();
  if (!session) return;
  let files = [];
  try { ({ files } = await api("GET", `/sessions/${session.session_id}/files`)); } catch { return; }
  for (const file of files.filter((f) => f.type === "file")) {
    const row = body.insertRow();
    row.insertCell().textContent = file.path;
    row.insertCell().textContent = formatBytes(file.size);
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Download";
    button.setAttribute("aria-label", "Download " + file.path);
    button.addEventListener("click", () => download(session.session_id, file.path));
    row.insertCell().append(button);
    if (file.path.toLowerCase().endsWith(".png")) showFigure(session.session_id, file.path);
  }
}

async function fetchBlob(session, path) {
  const response = await api("GET", fileUrl(session, path), { raw: true });
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.blob();
}

async function download(session, path) {
  const blob = await fetchBlob(session, path);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = path.split("/").pop();
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function showFigure(session, path) {
  const blob = await fetchBlob(session, path).catch(() => null);
  if (!blob) return;
  const figure = document.createElement("figure");
  const image = document.createElement("img");
  image.src = URL.createObjectURL(new Blob([blob], { type: "image/png" }));
  image.alt = "Figure " + path;
  const caption = document.createElement("figcaption");
  caption.textContent = path;
  figure.append(image, caption);
  $("figures").append(figure);
}

async function upload() {
  const session = currentSession();
  const file = $("upload").files[0];
  if (!session || !file) return setStatus("Choose a file to upload first.", "error");
  try {
    await api("PUT", fileUrl(session.session_id, file.name), { body: file });
    setStatus(`Uploaded ${file.name} (${formatBytes(file.size)}).`, "idle");
    refreshFiles();
  } catch (error) {
    setStatus("Upload failed: " + error.message, error.status === 401 ? "unauthorized" : "error");
  }
}

// A terminal on a shell in the live session: the process has a PTY, and the attach WebSocket carries its
// output and the keys typed (docs/api.md, "The attach WebSocket"); the key goes as a subprotocol. The emulator
// is term.js (Debian's libjs-term.js): Debian 12's libjs-xterm ships no browser build (docs/playground.md).
async function openTerminal() {
  const session = currentSession();
  if (!session || !session.live || state.terminal) return;
  const box = $("terminal");
  box.hidden = false;
  const term = new window.Terminal({ rows: 24, cols: 80, screenKeys: false, useStyle: false });
  term.open(box);
  let process;
  try {
    process = await api("POST", `/sessions/${session.session_id}/processes`, {
      body: { command: ["/bin/bash", "-i"], pty: { rows: term.rows, cols: term.cols } },
    });
  } catch (error) {
    term.destroy();
    box.textContent = "";
    box.hidden = true;
    return setStatus("Could not start a shell: " + error.message, "error");
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/sessions/${session.session_id}/processes/${process.pid}/attach`;
  const socket = apiKey() ? new WebSocket(url, ["jaild.key." + apiKey()]) : new WebSocket(url);
  const send = (message) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(message));
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "stdout" || message.type === "stderr") term.write(message.data);
    if (message.type === "exit") term.write(`\r\n[exited with code ${message.exit_code}]\r\n`);
  };
  socket.onclose = () => { $("terminal-open").disabled = !(currentSession() && currentSession().live); state.terminal = null; };
  term.on("data", (data) => send({ type: "stdin", data }));
  state.terminal = { term, socket };
  $("terminal-open").disabled = true;
  term.focus();
}

function closeTerminal() {
  if (!state.terminal) return;
  state.terminal.socket.close();
  state.terminal.term.destroy();
  state.terminal = null;
  $("terminal").textContent = "";
  $("terminal").hidden = true;
}

function setupKey() {
  const field = $("api-key");
  field.value = apiKey();
  field.addEventListener("change", () => {
    if (field.value) sessionStorage.setItem(KEY_STORE, field.value.trim());
    else sessionStorage.removeItem(KEY_STORE);
    loadLanguages();
    loadLimits();
    loadSessions();
  });
}

function main() {
  setupEditor();
  setupKey();
  $("language").addEventListener("change", chooseLanguage);
  $("run").addEventListener("click", run);
  $("stop").addEventListener("click", stop);
  $("context-restart").addEventListener("click", restartPython);
  $("session").addEventListener("change", () => { closeTerminal(); sessionChosen(); });
  $("session-new").addEventListener("click", () => newSession(false));
  $("session-new-live").addEventListener("click", () => newSession(true));
  $("session-delete").addEventListener("click", deleteSession);
  $("upload-send").addEventListener("click", upload);
  $("terminal-open").addEventListener("click", openTerminal);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); }
  });
  loadLanguages();
  loadLimits();
  loadSessions();
  document.body.dataset.ready = "true";
}

main();
