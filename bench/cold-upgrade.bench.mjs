// A cold upgrade under load: the whole server process is replaced (what a hot upgrade cannot
// change: the server entry, dependency versions, native addons). The demo server takes a fixed
// 400 req/s over keep-alive connections while 20 SSE clients stay connected (reconnecting like a
// browser when their stream ends), and gets 5 new builds (v2, v3, v2, v3, v2, each a fresh
// process) in three ways, one after the other in this run:
//
//   relup cold   `relup run` (the real CLI) owns the socket; SIGUSR2 starts the new process beside
//                the old one on the same socket, waits for its ready message, then drains the old
//                one (streams ended so clients reconnect, its counter handed over)
//   pm2 reload   PM2 cluster mode, 2 instances; `pm2 reload --update-env` with the new build
//   restart      stop the process (SIGTERM, graceful) and start the new build on the same port
//
// Same load, mix and windows as upgrade-under-load (fixtures/load). A deploy's window runs from
// its command's start until both the command finished and the new version answered, plus 1 s.
// The counter is kept when the count the server reports after a deploy (summed over its
// instances) is not lower than before it: the load increments it all the time.
//
//   node cold-upgrade.bench.mjs [--quick]
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { relupColdDeploy } from './fixtures/load/coldDeploy.mjs'
import { openStreams } from './fixtures/load/coldStreams.mjs'
import { pm2Deploy, restartDeploy } from './fixtures/load/deploys.mjs'
import {
  atCleanup,
  cleanUp,
  firstAnswerOf,
  freePort,
  probe,
  sleep,
  waitServing,
} from './fixtures/load/harness.mjs'
import { failed, startLoadProcess } from './fixtures/load/load.mjs'
import { percentile, printTable, round, writeResult } from './lib.mjs'

const QUICK = process.argv.includes('--quick')
const RATE = 400
const CONNECTIONS = 10
const CLIENTS = 20
const DEPLOYS = QUICK ? 2 : 5
const FIRST_DEPLOY_AT = 3000
const DEPLOY_EVERY = 3500
const RUN_MS = QUICK ? 9000 : 22_000
const SETTLE_MS = 1000
const WARM_UP_MS = 2000
const VERSIONS = ['v2', 'v3']

const work = await mkdtemp(join(tmpdir(), 'relup-cold-bench-'))
atCleanup(() => rm(work, { recursive: true, force: true }))

/** The count of each instance reached (fresh connections reach every PM2 worker), summed. */
async function countOf(origin, instances) {
  const counts = new Map()
  for (let attempt = 0; attempt < instances * 6 && counts.size < instances; attempt++) {
    const version = await probe(origin, '/api/version').catch(() => null)
    const counter = await probe(origin, '/api/counter').catch(() => null)
    if (version && counter) counts.set(version.machineId, counter.count)
  }
  return [...counts.values()].reduce((a, b) => a + b, 0)
}

async function runScenario(way) {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  atCleanup(() => way.stop())
  await way.start(port)
  await waitServing(origin, way.instances)
  const streams = await openStreams(`${origin}/events`, CLIENTS)
  atCleanup(() => streams.close())
  const load = await startLoadProcess(origin, { rate: RATE, connections: CONNECTIONS })
  atCleanup(async () => load.kill())
  await sleep(WARM_UP_MS)
  const epoch = performance.now()
  const now = () => performance.now() - epoch

  const deploys = []
  for (let i = 0; i < DEPLOYS; i++) {
    const version = VERSIONS[i % VERSIONS.length]
    await sleep(Math.max(FIRST_DEPLOY_AT + i * DEPLOY_EVERY, deploys.at(-1)?.windowEnd ?? 0) - now())
    const countBefore = await countOf(origin, way.instances)
    const start = now()
    const answered = firstAnswerOf(origin, version)
    answered.catch(() => {})
    const detail = await way.deploy(version)
    const commandEnd = now()
    const newCodeAt = (await answered) - epoch
    const windowEnd = Math.max(commandEnd, newCodeAt) + SETTLE_MS
    await sleep(windowEnd - now())
    const countAfter = await countOf(origin, way.instances)
    deploys.push({
      version,
      windowStart: round(start, 1),
      windowEnd: round(windowEnd, 1),
      commandMs: round(commandEnd - start, 1),
      toNewCodeMs: round(newCodeAt - start, 1),
      countBefore,
      countAfter,
      counterKept: countAfter >= countBefore,
      ...detail,
    })
  }
  await sleep(Math.max(RUN_MS, deploys.at(-1)?.windowEnd ?? 0) - now())
  const samples = (await load.stop())
    .map((s) => ({ ...s, t: s.t - (epoch - load.epoch) }))
    .filter((s) => s.t >= 0)
  const ended = streams.ended()
  await streams.close()
  await way.stop()
  return summarize(way, samples, deploys, ended)
}

function summarize(way, samples, deploys, ended) {
  const inWindow = (s) => deploys.some((d) => s.t >= d.windowStart && s.t <= d.windowEnd)
  const ok = samples.filter((s) => !failed(s))
  const p = (list, q) =>
    round(
      percentile(
        list.map((s) => s.ms),
        q,
      ),
      2,
    )
  const latency = (list) => ({ p50: p(list, 50), p99: p(list, 99), n: list.length })
  const errors = {}
  for (const s of samples.filter(failed)) {
    const kind = s.error ?? `HTTP ${s.status}`
    errors[kind] = (errors[kind] ?? 0) + 1
  }
  return {
    name: way.name,
    instances: way.instances,
    sent: samples.length,
    failed: samples.filter(failed).length,
    errors,
    latency: {
      steady: latency(ok.filter((s) => !inWindow(s))),
      duringUpgrades: latency(ok.filter(inWindow)),
    },
    longLived: { clients: CLIENTS, ...ended },
    counterKept: deploys.filter((d) => d.counterKept).length,
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
  }
}

const results = []
try {
  for (const way of [relupColdDeploy(work), pm2Deploy(work), restartDeploy(work)]) {
    console.error(
      `… ${way.name}: ${RUN_MS / 1000} s at ${RATE} req/s, ${CLIENTS} SSE clients, ${DEPLOYS} cold deploys`,
    )
    results.push(await runScenario(way))
  }
} finally {
  await cleanUp()
}

const cell = (fn) => Object.fromEntries(results.map((r) => [r.name, fn(r)]))
printTable(
  [
    { metric: 'requests sent', ...cell((r) => r.sent) },
    { metric: 'failed (errors + non-2xx)', ...cell((r) => r.failed) },
    {
      metric: '  kinds',
      ...cell(
        (r) =>
          Object.entries(r.errors)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ') || '-',
      ),
    },
    { metric: 'p50 / p99 steady (ms)', ...cell((r) => `${r.latency.steady.p50} / ${r.latency.steady.p99}`) },
    {
      metric: 'p50 / p99 during upgrades (ms)',
      ...cell((r) => `${r.latency.duringUpgrades.p50} / ${r.latency.duringUpgrades.p99}`),
    },
    {
      metric: 'deploy → new code answers (median, max ms)',
      ...cell((r) => `${r.toNewCodeMs.median}, ${r.toNewCodeMs.max}`),
    },
    {
      metric: 'long-lived streams ended cleanly / reset',
      ...cell((r) => `${r.longLived.clean} / ${r.longLived.reset}`),
    },
    { metric: '  reconnected', ...cell((r) => r.longLived.reconnected) },
    {
      metric: 'old process drained in (median ms); idle connections handed over',
      ...cell((r) =>
        r.deploys.every((d) => d.drainMs !== undefined)
          ? `${round(
              percentile(
                r.deploys.map((d) => d.drainMs),
                50,
              ),
              1,
            )}; ${r.deploys.reduce((n, d) => n + d.handedOver, 0)}`
          : '-',
      ),
    },
    {
      metric: 'in-memory counter kept',
      ...cell((r) =>
        r.counterKept === DEPLOYS ? `yes ${DEPLOYS}/${DEPLOYS}` : `no (kept ${r.counterKept}/${DEPLOYS})`,
      ),
    },
  ],
  `cold upgrade under load: ${RATE} req/s over ${CONNECTIONS} connections, ${CLIENTS} SSE clients, ${DEPLOYS} new builds in ${RUN_MS / 1000} s (window: command start → done and new version answering, + ${SETTLE_MS / 1000} s)`,
)

const relup = results.find((r) => r.name === 'relup cold')
const goals = [
  { goal: '0 failed requests', measured: relup.failed, met: relup.failed === 0 },
  { goal: 'no long-lived stream reset', measured: relup.longLived.reset, met: relup.longLived.reset === 0 },
  {
    goal: 'the counter is kept across every cold upgrade',
    measured: `${relup.counterKept}/${DEPLOYS}`,
    met: relup.counterKept === DEPLOYS,
  },
].map((g) => ({ ...g, result: g.met ? 'met' : 'MISSED' }))
printTable(
  goals.map(({ goal, measured, result }) => ({ 'relup goal': goal, measured, result })),
  'goals for relup',
)
writeResult('cold-upgrade', {
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
    mix: 'GET /api/counter 50%, GET / 25%, POST /api/increment 25%',
  },
  goals: goals.map(({ goal, measured, met }) => ({ goal, measured, met })),
  scenarios: results,
})
