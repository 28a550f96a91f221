// The unmodified e2b SDK (2.51.0, tests/e2b/package-lock.json) against jaild-gateway: a sandbox's commands
// (foreground, streamed, a non-zero exit, background with list and kill), a second client connecting
// to a running command, a terminal, setTimeout, list, an unsupported call (a snapshot), then kill. Run by
// tests/gateway/test_gateway_e2b_sdk.cc with E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY set; prints the
// timings of commands.run('echo hi') and exits non-zero on the first failed check.
import assert from 'node:assert/strict'
import { Sandbox, CommandExitError } from 'e2b'

const sbx = await Sandbox.create({ envs: { FROM_CREATE: 'yes' }, metadata: { suite: 'commands' } })
assert.equal(await sbx.isRunning(), true)

const hi = await sbx.commands.run('echo hi')
assert.deepEqual([hi.exitCode, hi.stdout, hi.stderr, hi.error], [0, 'hi\n', '', undefined])
assert.equal((await sbx.commands.run('echo $FROM_CREATE $X', { envs: { X: 'x' } })).stdout, 'yes x\n')

// The user's home is the workspace, where commands start; root is the same unprivileged uid with HOME=/root.
assert.equal((await sbx.commands.run('pwd; echo $HOME; id -u')).stdout.split('\n').slice(0, 2).join(' '), '/home/user /home/user')
await sbx.commands.run('echo kept > /home/user/kept.txt')
assert.equal((await sbx.commands.run('cat /workspace/kept.txt')).stdout, 'kept\n')
const asRoot = await sbx.commands.run('echo $HOME; id -u', { user: 'root' })
const asUser = await sbx.commands.run('id -u')
assert.equal(asRoot.stdout, `/root\n${asUser.stdout}`)
assert.notEqual(asUser.stdout, '0\n')
await assert.rejects(sbx.commands.run('echo x > /etc/escape', { user: 'root' }), e => e instanceof CommandExitError && e.exitCode !== 0)

const times = []
for (let i = 0; i < 9; i++) {
  const t = performance.now()
  await sbx.commands.run('echo hi')
  times.push(performance.now() - t)
}
times.sort((a, b) => a - b)
console.log(`commands.run('echo hi') ms: p50 ${times[4].toFixed(1)}, all ${times.map(t => t.toFixed(1)).join(' ')}`)

await assert.rejects(sbx.commands.run('echo out; echo err >&2; exit 3'), e => {
  assert.ok(e instanceof CommandExitError)
  assert.equal(e.exitCode, 3)
  assert.equal(e.message, 'exit status 3')
  assert.equal(e.stdout, 'out\n')
  assert.equal(e.stderr, 'err\n')
  return true
})

const lines = []
await sbx.commands.run('for i in 1 2 3; do echo $i; sleep 0.1; done', { onStdout: d => lines.push(d) })
assert.equal(lines.join(''), '1\n2\n3\n')
assert.ok(lines.length >= 2, `output arrived in one piece: ${JSON.stringify(lines)}`)

const bg = await sbx.commands.run('sleep 30', { background: true, timeoutMs: 0 })
const listed = await sbx.commands.list()
assert.deepEqual(listed.map(p => [p.pid, p.cmd, p.args]), [[bg.pid, '/bin/bash', ['-l', '-c', 'sleep 30']]])
assert.equal(await bg.kill(), true)
await assert.rejects(bg.wait(), e => e instanceof CommandExitError && e.exitCode === -1 && e.message === 'signal: killed')
assert.equal(await sbx.commands.kill(99999), false)
assert.deepEqual(await sbx.commands.list(), [])

// A second client connects to the sandbox and to a running command: it gets the command's new output and end.
const ticker = await sbx.commands.run('for i in $(seq 30); do echo tick $i; sleep 0.1; done', { background: true, timeoutMs: 0 })
const other = await Sandbox.connect(sbx.sandboxId)
const seen = []
const attached = await other.commands.connect(ticker.pid, { onStdout: d => seen.push(d) })
const ended = await attached.wait()
assert.equal(ended.exitCode, 0)
assert.ok(seen.join('').includes('tick 30\n'), `the second client saw: ${JSON.stringify(seen)}`)
assert.equal(await other.commands.kill(ticker.pid), false)  // it has ended: no longer running

// A terminal: input typed, output as the terminal shows it, a resize, then kill.
let screen = ''
const decoder = new TextDecoder()
const terminal = await sbx.pty.create({ cols: 80, rows: 24, timeoutMs: 0, onData: d => { screen += decoder.decode(d) } })
const shown = async text => {
  for (let i = 0; i < 200 && !screen.includes(text); i++) await new Promise(r => setTimeout(r, 50))
  assert.ok(screen.includes(text), `terminal showed: ${JSON.stringify(screen)}, not ${text}`)
}
await sbx.pty.sendInput(terminal.pid, new TextEncoder().encode('echo $((6*7)); stty size\n'))
await shown('24 80')
await sbx.pty.resize(terminal.pid, { cols: 100, rows: 30 })
await sbx.pty.sendInput(terminal.pid, new TextEncoder().encode('stty size\n'))
await shown('30 100')
assert.ok(screen.includes('42\r\n'), `terminal showed: ${JSON.stringify(screen)}`)
assert.equal(await sbx.pty.kill(terminal.pid), true)

// The control plane: setTimeout, list, and a clean error for what a container cannot do.
await sbx.setTimeout(120_000)
const listedSandboxes = []
for (const pager = Sandbox.list({ limit: 1 }); pager.hasNext;) listedSandboxes.push(...(await pager.nextItems()))
assert.deepEqual(listedSandboxes.map(s => s.sandboxId), [sbx.sandboxId])
const info = await sbx.getInfo()
assert.deepEqual([info.templateId, info.metadata], ['base', { suite: 'commands' }])
const others = Sandbox.list({ query: { metadata: { suite: 'other' } } })
assert.deepEqual(await others.nextItems(), [])
const mine = await Sandbox.list({ query: { metadata: { suite: 'commands' } } }).nextItems()
assert.deepEqual(mine.map(s => [s.sandboxId, s.metadata.suite]), [[sbx.sandboxId, 'commands']])
await assert.rejects(sbx.createSnapshot(), e => e.message === '501: snapshots are not supported by jaild')

assert.equal(await sbx.kill(), true)
assert.equal(await sbx.isRunning(), false)  // envd's /health answers 502 for a sandbox that is gone
assert.equal(await Sandbox.kill(sbx.sandboxId), false)
console.log('ok')
