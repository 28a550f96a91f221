// The E2B SDK's calls against jaild-gateway, timed (run by bench/e2b, which sets E2B_API_URL, E2B_SANDBOX_URL
// and E2B_API_KEY). Prints one line per row: `row=<name> n=<samples> p50=<ms> p90=<ms>`, or `row=<name>
// error=<message>` when the call fails. Rows: Sandbox.create (then kill, outside the timing),
// commands.run('echo hi'), runCode('1+1') after the first cell, files.write and files.read of 1 KiB.
import { Sandbox } from '@e2b/code-interpreter'

const N = Number(process.env.SAMPLES || 21)
const pause = () => new Promise(resolve => setTimeout(resolve, Number(process.env.PAUSE_MS ?? 20)))

async function row(name, once, setup) {
  try {
    if (setup) await setup()
    const times = []
    for (let i = 0; i < N; i++) {
      const t = performance.now()
      await once(i)
      times.push(performance.now() - t)
      await pause()
    }
    times.sort((a, b) => a - b)
    const at = q => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2)
    console.log(`row=${name} n=${N} p50=${at(0.5)} p90=${at(0.9)}`)
  } catch (e) {
    console.log(`row=${name} error=${JSON.stringify(String(e.message ?? e))}`)
  }
}

const made = []
await row('create', async () => { made.push(await Sandbox.create()) })
for (const s of made.splice(0)) await s.kill()

const sbx = await Sandbox.create()
await row('echo', () => sbx.commands.run('echo hi'))
await row('cell', () => sbx.runCode('1+1'), () => sbx.runCode('0'))
const kib = 'x'.repeat(1024)
await row('write_1k', i => sbx.files.write(`/home/user/bench-${i}.txt`, kib))
await row('read_1k', async i => {
  if ((await sbx.files.read(`/home/user/bench-${i}.txt`)) !== kib) throw new Error('read back something else')
})
await sbx.kill()
