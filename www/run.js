// A streamed run's NDJSON (docs/api.md, "Streaming") and its result in words. No DOM here.

// Reads an NDJSON answer as it arrives and hands each message (a parsed line) to `take`.
export async function readNdjson(response, take) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  const line = (text) => { if (text.trim()) take(JSON.parse(text)); };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      line(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  line(pending + decoder.decode());
}

// A streamed run: output and progress lines go to `on`, the result line is returned (null when the stream ended
// without one).
export async function streamRun(response, on) {
  let result = null;
  await readNdjson(response, (message) => {
    if (message.type === "stdout" || message.type === "stderr") on.output(message.type, message.data);
    else if (message.type === "progress") on.progress(message.message);
    else if (message.type === "result") result = message;
  });
  return result;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return bytes + " B";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KiB";
  if (bytes < 1024 * 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MiB";
  return (bytes / 1024 / 1024 / 1024).toFixed(2) + " GiB";
}

const LIMITS = {
  timeout: "Time limit reached",
  memory_limit: "Memory limit reached",
  output_limit: "Output limit reached",
};

// The status line of a finished run: how it ended (exit code, signal, the limit that stopped it, a compile
// error), then wall time, CPU time and peak memory. `kind` is the result's status.
export function describe(result) {
  const usage = `wall ${result.wall_ms} ms, CPU ${result.cpu_ms} ms, peak memory ${formatBytes(result.memory_kb * 1024)}`;
  let how;
  switch (result.status) {
    case "ok":
      how = `Finished: exit code ${result.exit_code}`;
      break;
    case "compile_error":
      how = `Compile error: the compiler exited with code ${result.exit_code} (its messages are in the output)`;
      break;
    case "runtime_error":
      how = result.signal_name
        ? `Killed by signal ${result.signal_name} (${result.signal})`
        : `Failed: exit code ${result.exit_code}` + (result.error ? ` (${result.error})` : "");
      break;
    case "cancelled":
      how = "Stopped: the run was cancelled";
      break;
    case "internal_error":
      how = "jaild failed: " + (result.error || "internal error");
      break;
    default:
      how = (LIMITS[result.status] || result.status) + (result.error ? `: ${result.error}` : "");
  }
  if (result.truncated && result.status !== "output_limit") how += " (output truncated)";
  return { text: `${how}; ${usage}.`, kind: result.status };
}
