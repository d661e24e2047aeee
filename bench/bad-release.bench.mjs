// The bad-release drill: 8 demo machines (real processes, filesystem storage) under steady HTTP
// load on loopback, and a release whose GET /api/hello throws on 20 % of its requests. Two runs,
// same load, side by side:
//
//   all at once  `relup publish --all-at-once` (today's behaviour, and FlyDeploy's model): every
//                machine takes it; a human-equivalent rollback (`relup rollback --to v2`) starts
//                as soon as the first failed request is seen
//   staged       `relup publish --rollout 1,25%,100% --health-window 3s`: the canary takes it on
//                probation, finds it unhealthy, reverts itself; the publisher halts, exit 1
//
// Printed: failed requests, machines that ever served the bad version (from the answers), time
// from the publish to the whole fleet back on stable, and for a good release the time to 100 %
// with the default plan (15 s health window) against all at once.
//
//   node bad-release.bench.mjs
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDemoServer } from '@relup/demo/dist/demoProcess.js'
import { hotDir } from '@relup/demo/dist/paths.js'
import { runRelupCli } from '@relup/demo/dist/relupCli.js'
import { Agent, request } from 'undici'
import { printTable, round, writeResult } from './lib.mjs'

const MACHINES = 8
const EVERY_MS = 20 // per machine: a request, its answer, then 20 ms
const WINDOW_MS = 3000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const cleanups = []
async function cleanUp() {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {})
}
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => void cleanUp().finally(() => process.exit(130)))

async function badRelease(dir) {
  await cp(hotDir('v2'), dir, { recursive: true })
  const router = await readFile(join(dir, 'router.js'), 'utf8')
  await writeFile(
    join(dir, 'router.js'),
    router
      .replace("{ hello: 'from v2' }", "{ hello: 'from v3' }")
      .replace(
        "GET: (_req, res) => sendJson(res, 200, { hello: 'from v3' }),",
        "GET: (_req, res) => { if (Math.random() < 0.2) throw new Error('v3 is broken'); sendJson(res, 200, { hello: 'from v3' }) },",
      ),
  )
  return dir
}

async function fleet(work) {
  const storage = `file://${join(work, 'storage')}`
  const servers = await Promise.all(
    Array.from({ length: MACHINES }, (_, i) =>
      startDemoServer({
        env: {
          RELUP_STORAGE: storage,
          RELUP_APP: 'drill',
          RELUP_BASE_REF: 'drill-image-1',
          RELUP_MACHINE_ID: `drill-${i + 1}`,
          RELUP_STATE_DIR: join(work, 'state', String(i + 1)),
          RELUP_HOT_DIR: hotDir('v1'),
          RELUP_POLL_INTERVAL: '200',
          RELUP_LOG_LEVEL: 'error',
        },
        timeoutMs: 30_000,
      }),
    ),
  )
  cleanups.push(() => Promise.all(servers.map((s) => s.stop(5000))))
  const cli = (args, timeoutMs = 120_000) =>
    runRelupCli([...args, '--app', 'drill', '--storage', storage, '--json'], { timeoutMs })
  return { servers, cli }
}

/** Steady load on every machine: GET /api/hello and GET /api/counter in turn. */
function load(servers) {
  const agent = new Agent({ connections: 4 })
  const stats = { sent: 0, failed: 0, networkErrors: 0, firstFailureAt: null, badServers: new Set() }
  let stopped = false
  const loops = servers.map(async (server, i) => {
    for (let n = 0; !stopped; n++) {
      const path = n % 2 === 0 ? '/api/hello' : '/api/counter'
      stats.sent++
      try {
        const response = await request(`${server.url}${path}`, { dispatcher: agent })
        const body = await response.body.text()
        if (response.statusCode >= 500) {
          stats.failed++
          stats.firstFailureAt ??= performance.now()
        }
        if (body.includes('from v3')) stats.badServers.add(i)
      } catch {
        stats.failed++
        stats.networkErrors++
        stats.firstFailureAt ??= performance.now()
      }
      await sleep(EVERY_MS)
    }
  })
  return {
    stats,
    stop: async () => {
      stopped = true
      await Promise.all(loops)
      await agent.close()
    },
  }
}

const versions = (servers) =>
  Promise.all(
    servers.map(async (s) => {
      const response = await request(`${s.url}/api/version`)
      return JSON.parse(await response.body.text()).version
    }),
  )

async function untilAll(servers, version, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if ((await versions(servers)).every((v) => v === version)) return performance.now()
    await sleep(50)
  }
  return null
}

async function drill(mode) {
  const work = await mkdtemp(join(tmpdir(), `relup-drill-${mode}-`))
  cleanups.push(() => rm(work, { recursive: true, force: true }))
  const { servers, cli } = await fleet(work)
  const good = await cli(['publish', hotDir('v2'), '--version', 'v2', '--all-at-once'])
  if (good.code !== 0) throw new Error(`publishing v2 failed: ${good.stdout}${good.stderr}`)
  const bad = await badRelease(join(work, 'v3'))
  const traffic = load(servers)
  await sleep(2000)
  const started = performance.now()
  let backAt = null
  let exit = null
  if (mode === 'all at once') {
    const publish = cli(['publish', bad, '--version', 'v3', '--all-at-once', '--timeout', '30s'])
    // The human: rolls back as soon as a failure shows.
    while (traffic.stats.firstFailureAt === null && performance.now() - started < 30_000) await sleep(20)
    await publish
    const rollback = await cli(['rollback', '--to', 'v2', '--timeout', '30s'])
    exit = rollback.code
    backAt = await untilAll(servers, 'v2')
  } else {
    const publish = await cli([
      'publish',
      bad,
      '--version',
      'v3',
      '--rollout',
      '1,25%,100%',
      '--health-window',
      `${WINDOW_MS / 1000}s`,
      '--timeout',
      '30s',
    ])
    exit = publish.code
    backAt = await untilAll(servers, 'v2')
  }
  await sleep(1000)
  await traffic.stop()
  const { stats } = traffic
  const result = {
    mode,
    sent: stats.sent,
    failed: stats.failed,
    networkErrors: stats.networkErrors,
    servedBad: stats.badServers.size,
    firstFailureMs: stats.firstFailureAt === null ? null : round(stats.firstFailureAt - started, 0),
    backOnStableMs: backAt === null ? null : round(backAt - started, 0),
    exit,
  }
  await cleanUp()
  return result
}

async function goodRelease(mode) {
  const work = await mkdtemp(join(tmpdir(), `relup-good-${mode}-`))
  cleanups.push(() => rm(work, { recursive: true, force: true }))
  const { servers, cli } = await fleet(work)
  const first = await cli(['publish', hotDir('v2'), '--version', 'v2', '--all-at-once'])
  if (first.code !== 0) throw new Error(`publishing v2 failed: ${first.stdout}${first.stderr}`)
  const args = mode === 'all at once' ? ['--all-at-once'] : []
  const run = await cli(['publish', hotDir('v3'), '--version', 'v3', ...args, '--timeout', '120s'], 180_000)
  const result = {
    mode,
    exit: run.code,
    toAllMs: round(run.durationMs, 0),
    plan: run.json?.rollout?.plan ?? 'all at once',
  }
  await cleanUp()
  void servers
  return result
}

try {
  const rows = []
  for (const mode of ['all at once', 'staged']) rows.push(await drill(mode))
  printTable(
    rows,
    `bad release (20 % of GET /api/hello throw), ${MACHINES} machines, each sent a request every ${EVERY_MS} ms`,
  )
  const [all, staged] = rows
  const goals = [
    {
      goal: 'failed requests ≤ 1/8 of all at once',
      measured: `${staged.failed} vs ${all.failed}`,
      met: staged.failed * 8 <= all.failed,
    },
    {
      goal: 'exactly 1 machine ever serves the bad version',
      measured: String(staged.servedBad),
      met: staged.servedBad === 1,
    },
    {
      goal: `back on stable within the health window + 1 s (${WINDOW_MS + 1000} ms)`,
      measured: `${staged.backOnStableMs} ms`,
      met: staged.backOnStableMs !== null && staged.backOnStableMs <= WINDOW_MS + 1000,
    },
    {
      goal: '0 requests fail for want of an answer (the revert itself)',
      measured: String(staged.networkErrors),
      met: staged.networkErrors === 0,
    },
  ]
  printTable(
    goals.map((g) => ({ ...g, met: g.met ? 'yes' : 'NO' })),
    'goals',
  )
  const good = []
  for (const mode of ['all at once', 'default plan']) good.push(await goodRelease(mode))
  printTable(good, `a good release to 100 % of ${MACHINES} machines`)
  writeResult('bad-release', {
    config: { machines: MACHINES, everyMs: EVERY_MS, windowMs: WINDOW_MS },
    drill: rows,
    goals,
    good,
  })
} finally {
  await cleanUp()
}
