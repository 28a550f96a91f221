// The unmodified e2b SDK (2.51.0) against jaild-gateway: a sandbox's files through envd's filesystem RPCs and
// REST /files — write (text, bytes, several files at once, octet-stream), read (text, bytes), list (depth 1 and
// 2), makeDir, exists, getInfo, rename, remove; files seen by the sandbox's commands and made by them; a write
// outside the workspace, a file past the session's quota and another tenant's sandbox refused cleanly. Run by
// tests/gateway/test_gateway_e2b_sdk.cc with E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY and E2B_OTHER_API_KEY (a
// second tenant's) set, and a session quota of QUOTA_BYTES; prints the timings of a 1 KiB write and read and
// exits non-zero on the first failed check.
import assert from 'node:assert/strict'
import { Sandbox, FileNotFoundError, NotEnoughSpaceError, SandboxError, SandboxNotFoundError } from 'e2b'

const sbx = await Sandbox.create()
const home = '/home/user'

// Write and read back: text, then bytes (not UTF-8), relative and absolute paths.
const written = await sbx.files.write('hello.txt', 'hello\n')
assert.deepEqual([written.name, written.type, written.path], ['hello.txt', 'file', `${home}/hello.txt`])
assert.equal(await sbx.files.read(`${home}/hello.txt`), 'hello\n')
const bytes = new Uint8Array([0, 1, 2, 254, 255, 10])
await sbx.files.write(`${home}/data/raw.bin`, bytes.buffer)
assert.deepEqual(await sbx.files.read('data/raw.bin', { format: 'bytes' }), bytes)
assert.equal(await sbx.files.read('empty.txt').catch(e => e.constructor.name), 'FileNotFoundError')
await sbx.files.write('empty.txt', '')
assert.equal(await sbx.files.read('empty.txt'), '')

// A file the SDK wrote is the sandbox's; one a command made is readable by the SDK.
assert.equal((await sbx.commands.run('cat /home/user/hello.txt')).stdout, 'hello\n')
await sbx.commands.run('mkdir -p made && printf "by a command" > /home/user/made/out.txt')
assert.equal(await sbx.files.read(`${home}/made/out.txt`), 'by a command')

// Several files in one request (multipart, filenames as paths), then octet-stream.
const several = await sbx.files.write([
  { path: 'multi/a.txt', data: 'A' },
  { path: `${home}/multi/b.txt`, data: 'BB' },
])
assert.deepEqual(several.map(f => f.path), [`${home}/multi/a.txt`, `${home}/multi/b.txt`])
const streamed = await sbx.files.write('octet.txt', 'sent as octet-stream', { useOctetStream: true })
assert.equal(streamed.path, `${home}/octet.txt`)
assert.equal(await sbx.files.read('octet.txt'), 'sent as octet-stream')

// makeDir: true when made (parents too), false when already there.
assert.equal(await sbx.files.makeDir('tree/sub/deeper'), true)
assert.equal(await sbx.files.makeDir(`${home}/tree/sub/deeper`), false)
await sbx.files.write('tree/top.txt', 'top')
await sbx.files.write('tree/sub/inner.txt', 'inner')

// list: one level by default, two when asked; entries as EntryInfo.
const one = await sbx.files.list(`${home}/tree`)
assert.deepEqual(one.map(e => [e.name, e.type, e.path]).sort(), [
  ['sub', 'dir', `${home}/tree/sub`],
  ['top.txt', 'file', `${home}/tree/top.txt`],
])
const two = await sbx.files.list('tree', { depth: 2 })
assert.deepEqual(two.map(e => e.path).sort(),
  [`${home}/tree/sub`, `${home}/tree/sub/deeper`, `${home}/tree/sub/inner.txt`, `${home}/tree/top.txt`])
await assert.rejects(sbx.files.list('no-such-dir'), FileNotFoundError)

// exists and getInfo.
assert.equal(await sbx.files.exists('tree/top.txt'), true)
assert.equal(await sbx.files.exists('tree/nothing'), false)
const info = await sbx.files.getInfo('tree/sub/inner.txt')
assert.equal(info.type, 'file')
assert.equal(info.size, 5)
assert.equal(info.permissions, '-rw-r--r--')
assert.ok(Math.abs(info.modifiedTime.getTime() - Date.now()) < 120_000, `modifiedTime ${info.modifiedTime}`)
const dirInfo = await sbx.files.getInfo(home)
assert.deepEqual([dirInfo.type, dirInfo.path], ['dir', home])
await assert.rejects(sbx.files.getInfo('tree/nothing'), FileNotFoundError)

// rename and remove (a file, then a directory with its content).
const moved = await sbx.files.rename('tree/top.txt', 'tree/sub/moved.txt')
assert.deepEqual([moved.name, moved.path], ['moved.txt', `${home}/tree/sub/moved.txt`])
assert.equal(await sbx.files.read('tree/sub/moved.txt'), 'top')
assert.equal(await sbx.files.exists('tree/top.txt'), false)
await assert.rejects(sbx.files.rename('tree/nothing', 'x'), FileNotFoundError)
await sbx.files.remove('hello.txt')
assert.equal(await sbx.files.exists('hello.txt'), false)
await sbx.files.remove(`${home}/tree`)
assert.equal(await sbx.files.exists('tree'), false)
assert.equal((await sbx.commands.run('ls /home/user')).stdout.includes('tree'), false)
await assert.rejects(sbx.files.remove('tree'), FileNotFoundError)

// Outside the workspace: refused, saying what is reachable.
await assert.rejects(sbx.files.write('/etc/evil', 'x'), e =>
  e instanceof SandboxError && e.message.startsWith('403: ') && e.message.includes('/home/user'))
await assert.rejects(sbx.files.makeDir('/opt/x'), e =>
  e instanceof SandboxError && e.message.includes('[permission_denied]') && e.message.includes('/home/user'))
await assert.rejects(sbx.files.write('../x', 'x'), e => e.message.includes('/home/user'))
// root's relative paths resolve under /root, which is not the workspace.
await assert.rejects(sbx.files.write('rooted.txt', 'x', { user: 'root' }), e => e.message.includes('/root'))

// A file past the session's quota: NotEnoughSpaceError, and nothing of it is left.
const quota = Number(process.env.QUOTA_BYTES)
await assert.rejects(sbx.files.write('big.bin', new Uint8Array(quota + 1).buffer, { useOctetStream: true }),
  NotEnoughSpaceError)
await assert.rejects(sbx.files.write('big.bin', new Uint8Array(quota + 1).buffer), NotEnoughSpaceError)
assert.equal(await sbx.files.exists('big.bin'), false)

// Another tenant's key does not reach the sandbox.
await assert.rejects(Sandbox.connect(sbx.sandboxId, { apiKey: process.env.E2B_OTHER_API_KEY }), SandboxNotFoundError)

// 1 KiB write and read.
const kib = 'x'.repeat(1024)
const writes = [], reads = []
for (let i = 0; i < 9; i++) {
  let t = performance.now()
  await sbx.files.write('kib.txt', kib)
  writes.push(performance.now() - t)
  t = performance.now()
  assert.equal(await sbx.files.read('kib.txt'), kib)
  reads.push(performance.now() - t)
}
const p50 = list => [...list].sort((a, b) => a - b)[4].toFixed(1)
console.log(`files.write 1 KiB p50 ${p50(writes)} ms, files.read 1 KiB p50 ${p50(reads)} ms`)

assert.equal(await sbx.kill(), true)
console.log('ok')
