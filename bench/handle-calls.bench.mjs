// What a call through the engine's handles costs, now that every call is counted for the health
// gate of staged rollouts (calls, throws, rejections, and a response's status): ns per call of a
// module handle and of a unit method, sync and async, against calling the same function directly
// (what the app would do without hot upgrades), in one run.
//
//   node handle-calls.bench.mjs [--quick]
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSwapEngine } from '@relup/swap'
import { printTable, round, writeResult } from './lib.mjs'

const QUICK = process.argv.includes('--quick')
const CALLS = QUICK ? 200_000 : 2_000_000
const ROUNDS = 5

const dir = await mkdtemp(join(tmpdir(), 'relup-handle-calls-'))
await writeFile(
  join(dir, 'app.js'),
  `module.exports = (a, b) => a + b
module.exports.later = async (a) => a + 1
module.exports.units = { counter: { init: () => ({ n: 0 }), create: (ctx) => ({ inc: () => ++ctx.state.n }) } }`,
)
const engine = await createSwapEngine({ releaseDir: dir, version: 'v1', logger: { warn() {}, error() {} } })
const handle = engine.module('app.js')
const direct = require_(dir)
const counter = engine.unit('counter')

function require_(from) {
  const fn = (a, b) => a + b
  fn.later = async (a) => a + 1
  void from
  return fn
}

/** ns per call, the median of ROUNDS rounds of `calls` calls. */
async function measure(calls, call) {
  const rounds = []
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.hrtime.bigint()
    await call(calls)
    rounds.push(Number(process.hrtime.bigint() - started) / calls)
  }
  rounds.sort((a, b) => a - b)
  return rounds[Math.floor(ROUNDS / 2)]
}

const syncLoop = (fn) => async (n) => {
  let x = 0
  for (let i = 0; i < n; i++) x = fn(x, 1)
  if (x !== n) throw new Error('wrong sum')
}
const asyncLoop = (fn) => async (n) => {
  for (let i = 0; i < n / 10; i++) await fn(i)
}

const rows = [
  {
    call: 'sync function',
    direct: await measure(CALLS, syncLoop(direct)),
    handle: await measure(CALLS, syncLoop(handle)),
  },
  {
    call: 'async function',
    direct: (await measure(CALLS, asyncLoop(direct.later))) * 10,
    handle: (await measure(CALLS, asyncLoop(handle.later))) * 10,
  },
  {
    call: 'unit method (always a promise)',
    direct:
      (await measure(
        CALLS,
        asyncLoop(async () => 1),
      )) * 10,
    handle:
      (await measure(
        CALLS,
        asyncLoop(() => counter.inc()),
      )) * 10,
  },
].map((r) => ({
  call: r.call,
  'direct ns': round(r.direct, 1),
  'handle ns': round(r.handle, 1),
  'added ns': round(r.handle - r.direct, 1),
}))

printTable(
  rows,
  `ns per call (median of ${ROUNDS} rounds of ${CALLS.toLocaleString()} calls; async: ${(CALLS / 10).toLocaleString()})`,
)
const stats = engine.callStats()
console.log(`\ncounted for v1: ${stats.calls.toLocaleString()} calls, ${stats.errors} errors`)
writeResult('handle-calls', { config: { calls: CALLS, rounds: ROUNDS }, rows, counted: stats })
await engine.close()
await rm(dir, { recursive: true, force: true })
