// A live session's Python: the editor's code runs as a cell of an interpreter context, which keeps its variables
// from one cell to the next (docs/api.md, "Live sessions": contexts and their NDJSON cell events). No DOM here:
// the page passes its `api` call and a view that shows the events.
import { readNdjson } from "./run.js";

const contexts = new Map();  // session id -> the id of the context this page runs its cells in

const base = (session) => `/sessions/${encodeURIComponent(session)}/contexts`;

async function contextOf(api, session) {
  if (!contexts.has(session)) {
    const created = await api("POST", base(session), { body: { language: "python" } });
    contexts.set(session, created.context_id);
  }
  return contexts.get(session);
}

export function hasContext(session) { return contexts.has(session); }

export function forgetContext(session) { contexts.delete(session); }

async function post(api, session, code, timeoutMs) {
  const path = `${base(session)}/${encodeURIComponent(await contextOf(api, session))}/run`;
  const body = timeoutMs ? { code, timeout_ms: timeoutMs } : { code };
  return api("POST", path, { body, headers: { Accept: "application/x-ndjson" }, stream: true });
}

// Runs `code` as a cell and shows its events as they come: view.output(stream, text) for what it prints,
// view.result(event) for each display and the cell's value (png and jpeg in base64), view.error(event) when it
// raised. Returns the end: {count: the execution count (null when jaild failed), error: the error event or null}.
// A context that is gone (jaild restarted, or it was deleted elsewhere) is replaced by a fresh one, once.
export async function runCell(api, session, code, timeoutMs, view) {
  let response;
  try {
    response = await post(api, session, code, timeoutMs);
  } catch (error) {
    if (error.status !== 404 || !contexts.has(session)) throw error;
    contexts.delete(session);
    response = await post(api, session, code, timeoutMs);
  }
  const end = { count: null, error: null };
  await readNdjson(response, (event) => {
    if (event.type === "stdout" || event.type === "stderr") view.output(event.type, event.data);
    else if (event.type === "result") view.result(event);
    else if (event.type === "error") {
      end.error = event;
      view.error(event);
    } else if (event.type === "end") end.count = event.execution_count;
  });
  return end;
}

// KeyboardInterrupt in the running cell; the cell's stream then ends with that error.
export async function interruptCell(api, session) {
  if (contexts.has(session)) await api("POST", `${base(session)}/${encodeURIComponent(contexts.get(session))}/interrupt`);
}

// Ends the context's interpreter: the next cell starts a fresh one, without the variables. False when this page
// has no context in the session yet.
export async function restartContext(api, session) {
  if (!contexts.has(session)) return false;
  await api("POST", `${base(session)}/${encodeURIComponent(contexts.get(session))}/restart`);
  return true;
}
