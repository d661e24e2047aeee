// The development loop: edit one file of a 100-module TypeScript app, then how long until the new
// code answers, with the app's in-memory state and an open SSE connection checked after each
// edit. The same app (fixtures/dev/server.mjs over a generated hot directory), two ways, one after
// the other in this run:
//
//   relup dev      `relup dev --hot <dir> -- node server.mjs` (the built CLI): the app's runtime
//                  snapshots the directory and upgrades itself in place, production's transaction
//   node --watch   `node --watch-path=<dir> server.mjs`: Node restarts the process on a change
//                  (what nodemon does too); the new process loads all 100 modules again
//
// Each edit rewrites lib/mod-042.ts (imported by routes.ts, which answers with its label). From
// just before the write, GET / is probed back to back on fresh connections until it answers with
// the new label: that time is the edit's latency. One unmeasured edit warms each side up. Loopback
// only; it ends by itself.
//
//   node dev-loop.bench.mjs [--quick]
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, percentile, printTable, round, writeResult } from './lib.mjs'

const QUICK = process.argv.includes('--quick')
const EDITS = QUICK ? 5 : 20
const MODULES = 100 // 98 in lib/, routes.ts and counter.ts
const EDITED = 'lib/mod-042.ts'
const SETTLE_MS = 300
const TIMEOUT_MS = 30_000
const here = dirname(fileURLToPath(import.meta.url))
const SERVER = join(here, 'fixtures', 'dev', 'server.mjs')
const RELUP_BIN = join(
  dirname(createRequire(import.meta.url).resolve('@relup/cli/package.json')),
  'dist',
  'relup.js',
)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---- the app's hot directory ----------------------------------------------------------------------
const leaf = (i, label) => `// module ${i} of the generated app
export interface Item${i} {
  id: number
  name: string
  tags: readonly string[]
}

export const label: string = ${JSON.stringify(label)}

export function make${i}(id: number): Item${i} {
  return { id, name: \`item-\${id}\`, tags: ['m${i}'] }
}

export function score${i}(items: Item${i}[]): number {
  let total = 0
  for (const item of items) total += item.id * ${i + 1} + item.tags.length
  return total
}
`
const name = (i) => `mod-${String(i).padStart(3, '0')}`

async function writeApp(dir) {
  await mkdir(join(dir, 'lib'), { recursive: true })
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n')
  const leaves = MODULES - 2
  for (let i = 0; i < leaves; i++)
    await writeFile(join(dir, 'lib', `${name(i)}.ts`), leaf(i, `${name(i)} v0`))
  const imports = Array.from({ length: leaves }, (_, i) => `import * as m${i} from './lib/${name(i)}.js'`)
  await writeFile(
    join(dir, 'routes.ts'),
    `${imports.join('\n')}\n\nconst all = [${Array.from({ length: leaves }, (_, i) => `m${i}`).join(', ')}]\n\n` +
      'export const modules: number = all.length\n\nexport default function answer(): string {\n  return m42.label\n}\n',
  )
  await writeFile(
    join(dir, 'counter.ts'),
    'export const units = {\n  counter: {\n    init: () => ({ count: 0 }),\n' +
      '    create: (ctx: { state: { count: number } }) => ({ hit: (): number => ++ctx.state.count }),\n  },\n}\n',
  )
}

// ---- probes and the open stream -------------------------------------------------------------------
function probe(port) {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk))
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`HTTP ${res.statusCode}`)),
      )
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** Probe back to back until `check` passes; resolves with the answer and when it came. */
async function answerWhere(port, check) {
  const deadline = performance.now() + TIMEOUT_MS
  while (performance.now() < deadline) {
    const answer = await probe(port).catch(() => null)
    if (answer && check(answer)) return { answer, at: performance.now() }
    if (!answer) await sleep(2) // refused: the process is restarting
  }
  throw new Error(`no matching answer within ${TIMEOUT_MS} ms`)
}

/** An SSE connection: open once its hello arrived, `ended` once the connection closed. */
function openStream(port) {
  return new Promise((resolve, reject) => {
    const stream = { ended: false, close: () => req.destroy() }
    const req = get({ host: '127.0.0.1', port, path: '/events', agent: false }, (res) => {
      res.setEncoding('utf8').on('data', (chunk) => chunk.includes('event: hello') && resolve(stream))
      res.on('close', () => (stream.ended = true))
    })
    req.on('error', (error) => {
      stream.ended = true
      reject(error)
    })
  })
}

// ---- one side -------------------------------------------------------------------------------------
const WAYS = [
  {
    name: 'relup dev',
    command: (hot) => [RELUP_BIN, 'dev', '--hot', hot, '--', process.execPath, SERVER],
  },
  {
    name: 'node --watch',
    command: (hot) => [`--watch-path=${hot}`, SERVER],
  },
]

async function runWay(way, work) {
  const hot = join(work, way.name.replace(/\W+/g, '-'), 'hot')
  await writeApp(hot)
  const port = await freePort()
  let stderr = ''
  const child = spawn(process.execPath, way.command(hot), {
    env: { ...process.env, PORT: String(port), BENCH_HOT_DIR: hot, RELUP_BASE_REF: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk))
  const pids = new Set()
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(5000)])
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL') // an app process left behind
      } catch {}
    }
  }
  try {
    pids.add((await answerWhere(port, () => true)).answer.pid)
    let stream = await openStream(port)
    const edits = []
    for (let i = 0; i <= EDITS; i++) {
      if (stream.ended) stream = await openStream(port)
      const before = await probe(port)
      const label = `${name(42)} edit ${i}`
      const started = performance.now()
      await writeFile(join(hot, EDITED), leaf(42, label))
      const { answer, at } = await answerWhere(port, (a) => a.answer === label)
      pids.add(answer.pid)
      await sleep(SETTLE_MS)
      const edit = {
        ms: at - started,
        stateKept: answer.count > before.count,
        connectionKept: !stream.ended,
        sameProcess: answer.pid === before.pid,
      }
      if (i > 0) edits.push(edit) // edit 0 warms up
    }
    stream.close()
    const reported = [...stderr.matchAll(/relup dev: reloaded .* in ([\d.]+) ms \(pause ([\d.]+) ms/g)]
    const latencies = edits.map((e) => e.ms)
    return {
      name: way.name,
      edits: edits.length,
      p50: round(percentile(latencies, 50), 1),
      p90: round(percentile(latencies, 90), 1),
      max: round(Math.max(...latencies), 1),
      stateKept: edits.filter((e) => e.stateKept).length,
      connectionKept: edits.filter((e) => e.connectionKept).length,
      sameProcess: edits.filter((e) => e.sameProcess).length,
      reportedReloadMs:
        reported.length > 0
          ? round(
              percentile(
                reported.map((m) => Number(m[1])),
                50,
              ),
              1,
            )
          : null,
      reportedPauseMs:
        reported.length > 0
          ? round(
              percentile(
                reported.map((m) => Number(m[2])),
                50,
              ),
              2,
            )
          : null,
      latenciesMs: latencies.map((ms) => round(ms, 1)),
    }
  } catch (error) {
    throw new Error(`${way.name}: ${error.message}\n${stderr.slice(-2000)}`)
  } finally {
    await stop()
  }
}

// ---- the run --------------------------------------------------------------------------------------
const work = await mkdtemp(join(tmpdir(), 'relup-dev-bench-'))
const results = []
try {
  for (const way of WAYS) {
    console.error(`… ${way.name}: ${EDITS} edits of ${EDITED} in a ${MODULES}-module app`)
    results.push(await runWay(way, work))
  }
} finally {
  await rm(work, { recursive: true, force: true })
}

const cell = (fn) => Object.fromEntries(results.map((r) => [r.name, fn(r)]))
printTable(
  [
    { metric: 'edit → new code answers, p50 (ms)', ...cell((r) => r.p50) },
    { metric: 'edit → new code answers, p90 (ms)', ...cell((r) => r.p90) },
    { metric: 'edit → new code answers, max (ms)', ...cell((r) => r.max) },
    { metric: 'in-memory counter kept', ...cell((r) => `${r.stateKept}/${r.edits}`) },
    { metric: 'open SSE connection kept', ...cell((r) => `${r.connectionKept}/${r.edits}`) },
    { metric: 'same process', ...cell((r) => `${r.sameProcess}/${r.edits}`) },
    {
      metric: 'relup’s line: snapshot + upgrade, pause (p50 ms)',
      ...cell((r) => (r.reportedReloadMs === null ? '-' : `${r.reportedReloadMs}, ${r.reportedPauseMs}`)),
    },
  ],
  `dev loop: edit one file of a ${MODULES}-module TypeScript app → new code answering, ${EDITS} edits each (relup dev: debounce 30 ms)`,
)

const relup = results.find((r) => r.name === 'relup dev')
const goals = [
  { goal: 'relup dev p50 ≤ 100 ms', measured: `${relup.p50} ms`, met: relup.p50 <= 100 },
  {
    goal: 'state kept on every edit',
    measured: `${relup.stateKept}/${relup.edits}`,
    met: relup.stateKept === relup.edits,
  },
  {
    goal: 'the SSE connection stays open on every edit',
    measured: `${relup.connectionKept}/${relup.edits}`,
    met: relup.connectionKept === relup.edits,
  },
].map((g) => ({ ...g, result: g.met ? 'met' : 'MISSED' }))
printTable(
  goals.map(({ goal, measured, result }) => ({ 'relup goal': goal, measured, result })),
  'goals',
)

writeResult('dev-loop', {
  config: {
    edits: EDITS,
    modules: MODULES,
    edited: EDITED,
    settleMs: SETTLE_MS,
    warmUpEdits: 1,
    debounceMs: 30,
  },
  goals: goals.map(({ goal, measured, met }) => ({ goal, measured, met })),
  ways: results,
})
