// The unmodified @e2b/code-interpreter SDK (2.8.0, tests/e2b/package-lock.json) against jaild-gateway: state
// kept across runCode calls, output streamed to onStdout, an error with its traceback, a matplotlib figure as
// PNG, HTML from a DataFrame, contexts (create, list, run, restart, remove), an unknown context, a cell that
// outlives its timeoutMs (interrupted, the context still usable), env vars for one cell. Run by
// tests/gateway/test_gateway_e2b_sdk.cc with E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY set; prints the
// timings of runCode('1+1') after the first cell and exits non-zero on the first failed check.
import assert from 'node:assert/strict'
import { Sandbox, NotFoundError, TimeoutError } from '@e2b/code-interpreter'

const sbx = await Sandbox.create()

// State across cells, in the default context.
await sbx.runCode('x = 1')
const two = await sbx.runCode('x+1')
assert.equal(two.text, '2')
assert.equal(two.error, undefined)
assert.ok(two.executionCount >= 2, `executionCount ${two.executionCount}`)

const times = []
for (let i = 0; i < 15; i++) {
  const t = performance.now()
  const run = await sbx.runCode('1+1')
  times.push(performance.now() - t)
  assert.equal(run.text, '2')
}
times.sort((a, b) => a - b)
console.log(`runCode('1+1') ms: p50 ${times[7].toFixed(1)}, all ${times.map(t => t.toFixed(1)).join(' ')}`)

// Output as it comes, line by line.
const seen = []
const printed = await sbx.runCode('import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.1)',
  { onStdout: m => seen.push(m.line) })
assert.deepEqual(printed.logs.stdout, ['0\n', '1\n', '2\n'])
assert.deepEqual(seen, ['0\n', '1\n', '2\n'])
const warned = await sbx.runCode('import sys; print("careful", file=sys.stderr)')
assert.deepEqual(warned.logs.stderr, ['careful\n'])

// An error: runCode does not throw; name, value and traceback come back.
const failed = await sbx.runCode('def f():\n    return 1/0\nf()')
assert.equal(failed.error.name, 'ZeroDivisionError')
assert.equal(failed.error.value, 'division by zero')
assert.ok(failed.error.traceback.includes('return 1/0'), failed.error.traceback)

// A matplotlib figure: a PNG, base64.
const figure = await sbx.runCode('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()')
assert.equal(figure.error, undefined, JSON.stringify(figure.error))
const pngs = figure.results.filter(r => r.png)
assert.equal(pngs.length, 1)
assert.deepEqual([...Buffer.from(pngs[0].png, 'base64').subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

// HTML: a DataFrame as the cell's value, and display(HTML(...)).
const frame = await sbx.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2]})')
assert.ok(frame.results[0].html.includes('<table'), frame.results[0].html)
assert.ok(frame.results[0].isMainResult)
const shown = await sbx.runCode('from IPython.display import HTML, display\ndisplay(HTML("<b>hi</b>"))\n3')
assert.deepEqual(shown.results.map(r => [r.html, r.isMainResult]), [['<b>hi</b>', false], [undefined, true]])
assert.equal(shown.text, '3')

// Contexts: their own state, listed, restarted (state gone), removed.
const ctx = await sbx.createCodeContext({ cwd: '/tmp' })
assert.deepEqual([ctx.language, ctx.cwd], ['python', '/tmp'])
const listed = await sbx.listCodeContexts()
assert.ok(listed.some(c => c.id === ctx.id), JSON.stringify(listed))
assert.ok(listed.some(c => c.id !== ctx.id && c.language === 'python'), 'the default context is listed')
assert.equal((await sbx.runCode('import os; os.getcwd()', { context: ctx })).text, '/tmp')
const separate = await sbx.runCode('x', { context: ctx })
assert.equal(separate.error.name, 'NameError')
await sbx.runCode('y = 5', { context: ctx })
assert.equal((await sbx.runCode('y', { context: ctx })).text, '5')
await sbx.restartCodeContext(ctx)
assert.equal((await sbx.runCode('y', { context: ctx })).error.value, "name 'y' is not defined")
await sbx.removeCodeContext(ctx.id)
assert.ok(!(await sbx.listCodeContexts()).some(c => c.id === ctx.id))
await assert.rejects(sbx.runCode('1', { context: ctx }), e => e instanceof NotFoundError && e.message === `Context ${ctx.id} not found`)
await assert.rejects(sbx.restartCodeContext('ctx-none'), e => e instanceof NotFoundError)

// A cell that outlives its timeoutMs: TimeoutError, and the context is interrupted, so the next cell runs.
await sbx.runCode('state = "kept"')
const started = performance.now()
await assert.rejects(sbx.runCode('import time\ntime.sleep(60)', { timeoutMs: 1000 }), e => e instanceof TimeoutError)
const after = await sbx.runCode('state')
assert.equal(after.text, 'kept')
assert.ok(performance.now() - started < 20_000, `the next cell waited ${performance.now() - started} ms`)

// envs for one cell only.
const withEnv = await sbx.runCode('import os; os.environ["ONE_CELL"]', { envs: { ONE_CELL: 'yes' } })
assert.equal(withEnv.text, 'yes')
assert.equal((await sbx.runCode('import os; "ONE_CELL" in os.environ')).text, 'False')

// A language jaild does not have is a clean error.
await assert.rejects(sbx.runCode('1', { language: 'javascript' }), e => e.message === '400 Bad Request')

assert.equal(await sbx.kill(), true)
console.log('ok')
