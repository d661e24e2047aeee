// An upgrade under load, against what Node.js users do today. The demo server takes steady HTTP
// traffic (a fixed rate over keep-alive connections) while 20 SSE clients stay connected, and
// receives 5 new versions (v2, v3, v2, v3, v2) in three ways, one after the other in this run:
//
//   relup (poll)      one process; `relup publish` (the real CLI, filesystem storage) and the
//                     process swaps the new code in, found by its 200 ms poll
//   relup (notifier)  the same with a real Redis (`redis-server` on a free loopback port):
//                     `relup publish --notify` announces the pointer move, the machine reads it at
//                     once and otherwise polls only as its safety net (skipped, saying so, without
//                     redis-server)
//   restart     stop the process (SIGTERM, graceful) and start the new build on the same port
//   pm2 reload  PM2 cluster mode, 2 instances; `pm2 reload --update-env` with the new build
//
// The load (50% GET /api/counter, 25% GET /, 25% POST /api/increment) runs in a child process at
// a fixed rate, open loop; it and the SSE clients start 2 s before the measured 20 s. The upgrade
// window of a deploy runs from its command's start until both the command has finished and the
// new version has answered, plus 1 s. Latency percentiles are over the requests that succeeded;
// "steady" is every request sent outside the windows. The counter continued when every process's
// count read before a deploy (SSE hello: machine id + count) is still there, not lower, after it.
//
//   node upgrade-under-load.bench.mjs [--quick] [--no-nice]
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serverAvailability, startServer } from '@relup/testkit'
import { request } from 'undici'
import { pm2Deploy, relupDeploy, restartDeploy } from './fixtures/load/deploys.mjs'
import {
  atCleanup,
  cleanUp,
  firstAnswerOf,
  freePort,
  probeAgent,
  sleep,
  waitServing,
} from './fixtures/load/harness.mjs'
import { failed, startLoadProcess } from './fixtures/load/load.mjs'
import { openLongLived } from './fixtures/load/streams.mjs'
import { percentile, printTable, round, writeResult } from './lib.mjs'

const QUICK = process.argv.includes('--quick')
// `relup publish` runs at nice 10 (it would run in CI, not on the server's 2 cores); --no-nice runs it
// at the server's priority, as a publisher on the same machine would.
const NICE_PUBLISHER = !process.argv.includes('--no-nice')
const RATE = 400 // requests per second
const CONNECTIONS = 10
const CLIENTS = 20 // long-lived SSE connections
const DEPLOYS = QUICK ? 2 : 5
const FIRST_DEPLOY_AT = 3000
const DEPLOY_EVERY = 3000
const RUN_MS = QUICK ? 8000 : 20_000
const SETTLE_MS = 1000
const WARM_UP_MS = 2000
const VERSIONS = ['v2', 'v3']

const work = await mkdtemp(join(tmpdir(), 'relup-load-bench-'))
atCleanup(() => rm(work, { recursive: true, force: true }))

/**
 * The SSE hello of one process: its machine id and its counter. A fresh connection each time, so
 * that PM2's cluster hands successive ones to different workers.
 */
async function helloOf(origin) {
  const { statusCode, body } = await request(`${origin}/events`, { dispatcher: probeAgent, reset: true })
  try {
    if (statusCode !== 200) throw new Error(`GET /events answered ${statusCode}`)
    let text = ''
    for await (const chunk of body) {
      text += chunk
      // Blocks before the hello (the `retry:` advice) carry no data.
      for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
        const lines = text.slice(0, end).split('\n')
        text = text.slice(end + 2)
        const data = lines.find((line) => line.startsWith('data:'))
        if (lines.includes('event: hello') && data) return JSON.parse(data.slice('data:'.length))
      }
    }
    throw new Error('the event stream ended before its hello')
  } finally {
    body.destroy()
  }
}

/** Each process's counter, by machine id (PM2's workers each have their own). */
async function readCounters(origin, instances) {
  const counters = {}
  for (let attempt = 0; attempt < instances * 4 && Object.keys(counters).length < instances; attempt++) {
    const hello = await helloOf(origin).catch(() => null)
    if (hello) counters[hello.machineId] = hello.count
  }
  return counters
}

/** The counter continued when every process's count from before is still there, not lower. */
const continued = (before, after) =>
  Object.keys(before).length > 0 &&
  Object.entries(before).every(
    ([machineId, count]) => after[machineId] !== undefined && after[machineId] >= count,
  )

// ---- one scenario -------------------------------------------------------------------------------
async function runScenario(way) {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  atCleanup(() => way.stop())
  await way.start(port)
  await waitServing(origin, way.instances)

  // The long-lived clients connect first; the load runs WARM_UP_MS before the measured run starts
  // (JIT, connections), then the same process and connections go on into it.
  const streams = await openLongLived(`${origin}/events`, CLIENTS)
  atCleanup(() => streams.close())
  const load = await startLoadProcess(origin, { rate: RATE, connections: CONNECTIONS })
  atCleanup(async () => load.kill())
  await sleep(WARM_UP_MS)
  const epoch = performance.now()
  const now = () => performance.now() - epoch

  const deploys = []
  for (let i = 0; i < DEPLOYS; i++) {
    const version = VERSIONS[i % VERSIONS.length]
    const previousEnd = deploys.at(-1)?.windowEnd ?? 0
    await sleep(Math.max(FIRST_DEPLOY_AT + i * DEPLOY_EVERY, previousEnd) - now())
    const counterBefore = await readCounters(origin, way.instances)
    const start = now()
    const answered = firstAnswerOf(origin, version)
    answered.catch(() => {}) // awaited below; a failed deploy must not make it an unhandled rejection
    const detail = await way.deploy(version)
    const commandEnd = now()
    const newCodeAt = (await answered) - epoch
    const windowEnd = Math.max(commandEnd, newCodeAt) + SETTLE_MS
    await sleep(windowEnd - now())
    const counterAfter = await readCounters(origin, way.instances)
    deploys.push({
      version,
      windowStart: round(start, 1),
      windowEnd: round(windowEnd, 1),
      commandMs: round(commandEnd - start, 1),
      toNewCodeMs: round(newCodeAt - start, 1),
      counterBefore,
      counterAfter,
      counterContinued: continued(counterBefore, counterAfter),
      ...detail,
    })
  }
  await sleep(Math.max(RUN_MS, deploys.at(-1)?.windowEnd ?? 0) - now())
  const samples = (await load.stop())
    .map((s) => ({ ...s, t: s.t - (epoch - load.epoch) }))
    .filter((s) => s.t >= 0)
  const neverDropped = streams.neverDropped()
  const figures = summarize(way, samples, deploys, {
    neverDropped,
    drops: streams.drops(),
    versionEvents: streams.versionEvents(),
  })
  await streams.close()
  await way.stop()
  return figures
}

function summarize(way, samples, deploys, streams) {
  const inWindow = (s) => deploys.some((d) => s.t >= d.windowStart && s.t <= d.windowEnd)
  const ok = samples.filter((s) => !failed(s))
  const latency = (list) => ({
    p50: round(
      percentile(
        list.map((s) => s.ms),
        50,
      ),
      2,
    ),
    p99: round(
      percentile(
        list.map((s) => s.ms),
        99,
      ),
      2,
    ),
    max: round(Math.max(...list.map((s) => s.ms)), 2),
    n: list.length,
  })
  const errors = {}
  for (const s of samples.filter(failed)) {
    const kind = s.error ?? `HTTP ${s.status}`
    errors[kind] = (errors[kind] ?? 0) + 1
  }
  const timeline = []
  for (let second = 0; second * 1000 < Math.max(...samples.map((s) => s.t)); second++) {
    const slice = samples.filter((s) => s.t >= second * 1000 && s.t < (second + 1) * 1000)
    const good = slice.filter((s) => !failed(s))
    timeline.push({
      second,
      sent: slice.length,
      failed: slice.length - good.length,
      p99: round(
        percentile(
          good.map((s) => s.ms),
          99,
        ),
        2,
      ),
    })
  }
  return {
    name: way.name,
    instances: way.instances,
    sent: samples.length,
    failed: samples.filter(failed).length,
    failedDuringWindows: samples.filter((s) => failed(s) && inWindow(s)).length,
    errors,
    latency: {
      overall: latency(ok),
      duringUpgrades: latency(ok.filter(inWindow)),
      steady: latency(ok.filter((s) => !inWindow(s))),
    },
    longLived: {
      clients: CLIENTS,
      neverDropped: streams.neverDropped,
      drops: streams.drops,
      versionEventsPerClient: {
        min: Math.min(...streams.versionEvents),
        max: Math.max(...streams.versionEvents),
      },
    },
    counterContinued: deploys.filter((d) => d.counterContinued).length,
    toNewCodeMs: {
      median: round(
        percentile(
          deploys.map((d) => d.toNewCodeMs),
          50,
        ),
        1,
      ),
      max: round(Math.max(...deploys.map((d) => d.toNewCodeMs)), 1),
    },
    deploys,
    timeline,
  }
}

// ---- the run ------------------------------------------------------------------------------------
const results = []
const redisAvailable = serverAvailability('redis')
if (!redisAvailable.run) console.error(`the relup (notifier) row is skipped: ${redisAvailable.reason}`)
const redis = redisAvailable.run ? await startServer('redis') : null
if (redis) atCleanup(() => redis.stop())
try {
  for (const way of [
    relupDeploy(work, { nicePublisher: NICE_PUBLISHER }),
    ...(redis ? [relupDeploy(work, { nicePublisher: NICE_PUBLISHER, notify: redis.url })] : []),
    restartDeploy(work),
    pm2Deploy(work),
  ]) {
    console.error(
      `… ${way.name}: ${RUN_MS / 1000} s at ${RATE} req/s, ${CLIENTS} SSE clients, ${DEPLOYS} deploys`,
    )
    results.push(await runScenario(way))
  }
} finally {
  await cleanUp()
}

const cell = (fn) => Object.fromEntries(results.map((r) => [r.name, fn(r)]))
const pct = (part, whole) => `${round((100 * part) / whole, 2)}%`
printTable(
  [
    { metric: 'requests sent', ...cell((r) => r.sent) },
    { metric: 'failed (errors + non-2xx)', ...cell((r) => `${r.failed} (${pct(r.failed, r.sent)})`) },
    { metric: '  of which during upgrades', ...cell((r) => r.failedDuringWindows) },
    {
      metric: '  kinds',
      ...cell(
        (r) =>
          Object.entries(r.errors)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ') || '-',
      ),
    },
    {
      metric: 'p50 / p99 overall (ms)',
      ...cell((r) => `${r.latency.overall.p50} / ${r.latency.overall.p99}`),
    },
    { metric: 'p50 / p99 steady (ms)', ...cell((r) => `${r.latency.steady.p50} / ${r.latency.steady.p99}`) },
    {
      metric: 'p50 / p99 during upgrades (ms)',
      ...cell((r) => `${r.latency.duringUpgrades.p50} / ${r.latency.duringUpgrades.p99}`),
    },
    { metric: 'max latency (ms)', ...cell((r) => r.latency.overall.max) },
    {
      metric: `long-lived connections open at the end`,
      ...cell((r) => `${r.longLived.neverDropped} of ${CLIENTS} (${r.longLived.drops} drops)`),
    },
    {
      metric: 'in-memory counter',
      ...cell((r) =>
        r.counterContinued === DEPLOYS
          ? `continued ${DEPLOYS}/${DEPLOYS}`
          : `reset ${DEPLOYS - r.counterContinued}/${DEPLOYS}`,
      ),
    },
    {
      metric: 'deploy command (median ms)',
      ...cell((r) =>
        round(
          percentile(
            r.deploys.map((d) => d.commandMs),
            50,
          ),
          0,
        ),
      ),
    },
    {
      metric: 'deploy → new code answers (median, max ms)',
      ...cell((r) => `${r.toNewCodeMs.median}, ${r.toNewCodeMs.max}`),
    },
  ],
  `upgrade under load: ${RATE} req/s over ${CONNECTIONS} connections, ${CLIENTS} SSE clients, ${DEPLOYS} deploys in ${RUN_MS / 1000} s (window: command start → done and new version answering, + ${SETTLE_MS / 1000} s; relup publish ${NICE_PUBLISHER ? 'at nice 10' : 'at the server’s priority'})`,
)

const notified = results.find((r) => r.name === 'relup (notifier)')
const restart = results.find((r) => r.name === 'restart')
/** The goals every relup row is held to, named after the row. */
const rowGoals = (relup) => [
  { goal: `${relup.name}: 0 failed requests`, measured: relup.failed, met: relup.failed === 0 },
  {
    goal: `${relup.name}: ${CLIENTS} of ${CLIENTS} long-lived connections still open`,
    measured: relup.longLived.neverDropped,
    met: relup.longLived.neverDropped === CLIENTS,
  },
  {
    goal: `${relup.name}: the counter continues across every upgrade`,
    measured: `${relup.counterContinued}/${DEPLOYS}`,
    met: relup.counterContinued === DEPLOYS,
  },
  {
    goal: `${relup.name}: p99 during upgrades ≤ 2× steady p99`,
    measured: `${relup.latency.duringUpgrades.p99} ms vs ${relup.latency.steady.p99} ms (${round(relup.latency.duringUpgrades.p99 / relup.latency.steady.p99, 2)}×)`,
    met: relup.latency.duringUpgrades.p99 <= 2 * relup.latency.steady.p99,
  },
]
const goals = [
  ...results.filter((r) => r.name.startsWith('relup')).flatMap(rowGoals),
  ...(notified
    ? [
        {
          goal: 'relup (notifier): deploy → new code answers (median) ≤ the restart’s, 0 failed',
          measured: `${notified.toNewCodeMs.median} ms vs ${restart.toNewCodeMs.median} ms, ${notified.failed} failed`,
          met: notified.toNewCodeMs.median <= restart.toNewCodeMs.median && notified.failed === 0,
        },
      ]
    : []),
].map((g) => ({ ...g, result: g.met ? 'met' : 'MISSED' }))
printTable(
  goals.map(({ goal, measured, result }) => ({ 'relup goal': goal, measured, result })),
  'goals for relup',
)
writeResult('upgrade-under-load', {
  config: {
    ratePerSecond: RATE,
    connections: CONNECTIONS,
    longLivedClients: CLIENTS,
    deploys: DEPLOYS,
    runMs: RUN_MS,
    firstDeployAtMs: FIRST_DEPLOY_AT,
    deployEveryMs: DEPLOY_EVERY,
    settleMs: SETTLE_MS,
    warmUpMs: WARM_UP_MS,
    relupPollIntervalMs: 200,
    relupNotifier: redis ? 'redis-server on loopback, default safety-net poll' : null,
    relupPublisher: NICE_PUBLISHER ? 'same machine, nice 10' : 'same machine, same priority',
    storage: 'filesystem',
    mix: 'GET /api/counter 50%, GET / 25%, POST /api/increment 25%',
  },
  goals: goals.map(({ goal, measured, met }) => ({ goal, measured, met })),
  scenarios: results,
})
