// Fleet simulation: 500 real relup runtimes (`Relup` from @relup/poller, a stand-in engine) in
// 4 child processes, against the local S3 server (s3rver, which counts the requests it received
// in its own process) and against the filesystem storage (counted by a wrapping Storage in each
// process), in three configurations side by side:
//   poll 1 s (today's default, FlyDeploy's model) · poll 60 s, no notifier · Redis notifier
//   (a real redis-server) + the default 60 s safety-net poll and 10 min heartbeat.
// For each: publish (pointer moved) → every machine completed, p50/p99/max; idle storage
// requests per machine-hour by kind (GET, PUT, LIST; heartbeats and machine records included);
// the monthly request cost of 1,000 such machines at S3 Standard, R2 and Tigris list prices.
// Goals: with the notifier, pickup p99 <= 1 s and <= 72 idle requests per machine-hour.
//
// Bounded run: the slow configurations are time-compressed for what depends on their slow
// timers. Their idle rates are measured with every interval divided by a factor (×10 for poll
// 60 s, ×20 for the notifier's safety net and heartbeat) over a window that holds at least one
// heartbeat period, and scaled back: the counts per timer tick are what they are, only the clock
// runs faster. The poll-60 s pickup is measured the same way, its wait for the next poll scaled
// back. The notifier pickup is measured in real time with the real defaults (a 60 s safety net
// that cannot help it). The poll 1 s fleet runs in real time, its heartbeat at half its interval.
// With --artifact, 500 machines then fetch a 10 MB artifact at the same moment (the notifier rings them all).
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initialPointer, relupKeys, writeDocument } from '@relup/core'
import { redisNotifier } from '@relup/notifier-redis'
import { gc, publish } from '@relup/publisher'
import { fsStorage } from '@relup/storage-fs'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, serverAvailability, startS3rver, startServer } from '@relup/testkit'
import { percentile, printTable, round, writeResult } from './lib.mjs'

// The SDK's "will require node >=22" notice is not news to a benchmark (the CLI silences it too).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const here = dirname(fileURLToPath(import.meta.url))
const child = join(here, 'fixtures', 'fleet', 'machines.mjs')
const quick = process.argv.includes('--quick')
// The 10 MB fetch moves MACHINES × 10 MB through s3rver and the extraction (5 GB at 500): about
// two more minutes, so it runs only when asked.
const artifact = process.argv.includes('--artifact')
const arg = (name) => {
  const i = process.argv.indexOf(name)
  return i === -1 ? undefined : process.argv[i + 1]
}
const MACHINES = Number(arg('--machines') ?? (quick ? 100 : 500))
// `--only s3` or `--only fs`: one storage (a shorter look; the full run does both).
const ONLY = arg('--only')
// `--configs poll1,poll60,notify`: some of the configurations (default all three).
const CONFIGS = (arg('--configs') ?? 'poll1,poll60,notify').split(',')
const PROCESSES = 4
// poll 60 s runs ×10 (its heartbeat at every poll makes it the busiest for the storage), the
// notifier's idle fleet ×20.
const POLL60_COMPRESSION = 10
const NOTIFY_COMPRESSION = 20
// Idle windows cover at least one heartbeat period of their configuration (a heartbeat is written
// at the first poll after its interval), so every machine's heartbeat lands in them.
// poll 1 s: polls in real time; its 60 s heartbeat runs at 30 s (PUTs scaled ÷2) so that a whole
// period fits a 31 s window. poll 60 s (×10): polls and heartbeats every 6 s. notifier (×20):
// polls every 3 s, heartbeat every 30 s.
const HEARTBEAT_1S_FACTOR = 2
const POLL1_WINDOW_MS = 31_000
const POLL60_WINDOW_MS = 20_000
const NOTIFY_WINDOW_MS = 32_000
const BIG_ARTIFACT_BYTES = 10 * 1024 * 1024
/** The runtime's default `recordDelay`: a machine record follows its completed result within it. */
const RECORD_DELAY_MS = 2000
const HOURS_PER_MONTH = 730
const FLEET = 1000

// List prices by request class, as each provider documents them (checked 2026-12-01).
const PRICES = {
  date: '2026-12-01',
  's3-standard': {
    get: 0.0004 / 1000,
    putList: 0.005 / 1000,
    source: 'S3 Standard us-east-1: GET $0.0004/1k; PUT, COPY, POST, LIST $0.005/1k',
  },
  r2: {
    get: 0.36 / 1e6,
    putList: 4.5 / 1e6,
    source: 'R2 Standard: Class B (GetObject, HeadObject) $0.36/M; Class A (PutObject, ListObjects) $4.50/M',
  },
  tigris: {
    get: 0.0005 / 1000,
    putList: 0.005 / 1000,
    source: 'Tigris: Class B (GET) $0.0005/1k; Class A (PUT, COPY, POST, LIST) $0.005/1k',
  },
}

if (!serverAvailability('redis').run) {
  console.error(`fleet-sim needs redis-server: ${serverAvailability('redis').reason}`)
  process.exit(1)
}

const keepAlive = setInterval(() => {}, 1000)
const work = await mkdtemp(join(tmpdir(), 'relup-fleet-sim-'))
// Each real machine has its own local disk for its state directory (releases, marker); here 500
// share one, so their state lives in memory (tmpfs, where the host has one) and only the storage
// itself (the fs bucket, s3rver's files) is on disk. --artifact keeps state on disk (5 GB).
const stateBase =
  !artifact && existsSync('/dev/shm') ? await mkdtemp('/dev/shm/relup-fleet-state-') : join(work, 'state')
const redis = await startServer('redis')
const s3 = await startS3rver()
await s3.createBucket('fleet')

const served = (stats) => stats.requests.GET + stats.requests.PUT + stats.requests.LIST

// ---- releases ---------------------------------------------------------------------------------
let releaseCount = 0
async function hotDir(bigBytes = 0) {
  const dir = join(work, `hot-${++releaseCount}`)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'handler.js'), `module.exports = () => 'release ${releaseCount}'\n`)
  if (bigBytes > 0) await writeFile(join(dir, 'asset.bin'), randomBytes(bigBytes))
  return dir
}

// ---- one pass: a fleet of MACHINES runtimes on one storage, one configuration -------------------
function storageFor(kind) {
  if (kind === 'fs') return { kind, dir: join(work, 'bucket') }
  return { kind, s3env: s3rverEnv(s3, 'fleet') }
}

/** The publisher's own storage: direct (its requests are not the fleet's). */
function publisherStorage(kind) {
  return kind === 'fs' ? fsStorage({ dir: join(work, 'bucket') }) : s3Storage({ env: s3rverEnv(s3, 'fleet') })
}

async function startFleet(kind, app, { pollInterval, heartbeatInterval, notify }) {
  const storage = publisherStorage(kind)
  await writeDocument(
    storage,
    relupKeys(app).current,
    initialPointer(app, 'fleet-image', { setBy: 'bench' }),
    {
      ifNoneMatch: '*',
    },
  )
  const events = []
  const children = []
  const per = Math.ceil(MACHINES / PROCESSES)
  for (let p = 0; p < PROCESSES; p++) {
    const config = {
      ...storageFor(kind),
      app,
      process: p,
      count: Math.min(per, MACHINES - p * per),
      stateRoot: join(stateBase, app),
      pollInterval,
      heartbeatInterval,
      notify,
    }
    const proc = fork(child, [], {
      env: {
        ...process.env,
        // Each simulated machine would be its own process with its own libuv threadpool: give the
        // process's machines threads enough that their disk writes (fsync) do not queue behind 4,
        // but not one each: 125 threads on 2 cores spent more CPU waking each other (futex) than
        // writing (measured here: 7.8 ms of CPU per apply with 125, 5.5 ms with 16).
        UV_THREADPOOL_SIZE: String(Math.min(16, per)),
        RELUP_FLEET_CONFIG: JSON.stringify(config),
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const waiting = new Map()
    proc.on('message', (message) => {
      if (message.type === 'events') events.push(...message.events)
      waiting.get(message.type)?.(message)
    })
    const next = (type) => new Promise((resolve) => waiting.set(type, resolve))
    children.push({ proc, next, ready: next('ready') })
  }
  const started = Date.now()
  await Promise.all(children.map((c) => c.ready))
  const startMs = Date.now() - started
  return {
    kind,
    storage,
    events,
    startMs,
    /** CPU time the machine processes have used so far, ms. */
    async cpuMs() {
      const all = await Promise.all(
        children.map((c) => {
          const answer = c.next('counts')
          c.proc.send({ type: 'counts' })
          return answer
        }),
      )
      return all.reduce((sum, { cpuMs }) => sum + cpuMs, 0)
    },
    async counts() {
      if (kind === 's3') {
        const { requests } = await s3.stats()
        return { GET: requests.GET, PUT: requests.PUT, LIST: requests.LIST }
      }
      const all = await Promise.all(
        children.map((c) => {
          const answer = c.next('counts')
          c.proc.send({ type: 'counts' })
          return answer
        }),
      )
      return all.reduce(
        (sum, { counts }) => ({
          GET: sum.GET + counts.GET,
          PUT: sum.PUT + counts.PUT,
          LIST: sum.LIST + counts.LIST,
        }),
        { GET: 0, PUT: 0, LIST: 0 },
      )
    },
    async stop() {
      await Promise.all(
        children.map((c) => {
          const answer = c.next('stopped')
          c.proc.send({ type: 'stop' })
          return Promise.race([answer, new Promise((resolve) => setTimeout(resolve, 20_000))])
        }),
      )
      for (const c of children) c.proc.kill()
      await storage.close?.()
    },
  }
}

/**
 * Idle requests per machine-hour, by kind, over `windowMs`: the counts divided by the machine-hours
 * the window stands for (`compression` × its length; PUTs by `putFactor` when only the heartbeat ran faster).
 */
async function idleRates(fleet, windowMs, compression, putFactor = compression) {
  await new Promise((resolve) => setTimeout(resolve, 1_000)) // the startup burst is over
  const before = await fleet.counts()
  await new Promise((resolve) => setTimeout(resolve, windowMs))
  const after = await fleet.counts()
  const hours = (MACHINES * windowMs) / 3_600_000
  const rate = (kind, factor) => (after[kind] - before[kind]) / hours / factor
  return { GET: rate('GET', compression), PUT: rate('PUT', putFactor), LIST: rate('LIST', compression) }
}

/**
 * Publish (the library, as `relup publish --no-wait` does) and time pointer moved → every machine
 * completed. Compressed: the wait for the next poll (pointer moved → upgrade started) ran
 * `compression` times faster and is scaled back; the apply (started → completed) is as measured.
 * The publish's retention pass (it reads every machine record) runs once the pickup is measured,
 * timed on its own: a real publisher runs on its own machine (CI), here it would take the fleet's
 * two cores.
 */
async function pickup(fleet, app, { notifier, bigBytes = 0, timeoutMs, compression = 1 }) {
  const dir = await hotDir(bigBytes)
  const version = `r${releaseCount}`
  const cpuBefore = await fleet.cpuMs()
  const serverBefore = fleet.kind === 's3' ? await s3.stats() : undefined
  let movedAt = 0
  await publish({
    storage: fleet.storage,
    app,
    dir,
    version,
    wait: false,
    skipChecks: true,
    gc: false,
    notifier,
    reporter: {
      step: (message) => {
        if (message.startsWith('pointer moved')) movedAt = Date.now()
      },
    },
  })
  const deadline = Date.now() + timeoutMs
  const of = (type) => fleet.events.filter((e) => e.version === version && e.type === type)
  while (of('completed').length < MACHINES && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
  // What the S3 server answered from the publish to the last completed result (its throughput
  // here), and the CPU it used meanwhile: near one core means the single-threaded server is the bound.
  const serverAfter = serverBefore ? await s3.stats() : undefined
  const startedAt = new Map(of('started').map((e) => [e.machineId, e.at]))
  const done = of('completed')
  const began = (e) => startedAt.get(e.machineId) ?? e.at
  const times = done.map((e) => (began(e) - movedAt) * compression + (e.at - began(e)))
  const applies = done.map((e) => e.at - began(e))
  const starts = done.map((e) => (began(e) - movedAt) * compression)
  const swaps = of('swapped').map((e) => e.at - movedAt)
  // The machine records follow the results within recordDelay (2 s): their writes count too.
  await new Promise((resolve) => setTimeout(resolve, RECORD_DELAY_MS + 500))
  const cpuPerApply = (await fleet.cpuMs()) - cpuBefore
  const gcStarted = performance.now()
  await gc({ storage: fleet.storage, app })
  const gcMs = performance.now() - gcStarted
  const lastAt = Math.max(...done.map((e) => e.at))
  const realTime = compression === 1 && serverAfter !== undefined
  // The publisher's own requests (its upload and compare-and-swap, about ten) count here too.
  const window = (lastAt - movedAt) / 1000
  const requests = realTime ? served(serverAfter) - served(serverBefore) : 0
  const serverCpuMs = realTime ? serverAfter.cpuMs - serverBefore.cpuMs : 0
  return {
    gcMs,
    serverRate: realTime ? requests / window : null,
    serverCpu: realTime ? serverCpuMs / 1000 / window : null,
    serverCpuPerRequest: realTime ? serverCpuMs / requests : null,
    times,
    completed: done.length,
    startedP99: percentile(starts, 99),
    swappedP99: compression === 1 ? percentile(swaps, 99) : null,
    applyP50: percentile(applies, 50),
    cpuPerApply: cpuPerApply / done.length,
  }
}

const summary = (times) => ({
  p50: round(percentile(times, 50) / 1000, 2),
  p99: round(percentile(times, 99) / 1000, 2),
  max: round(Math.max(...times) / 1000, 2),
})

function monthly(rates) {
  const perMonth = (kind) => rates[kind] * FLEET * HOURS_PER_MONTH
  const cost = (price) => perMonth('GET') * price.get + (perMonth('PUT') + perMonth('LIST')) * price.putList
  return {
    s3: round(cost(PRICES['s3-standard']), 2),
    r2: round(cost(PRICES.r2), 2),
    tigris: round(cost(PRICES.tigris), 2),
  }
}

const rows = []
const results = []
const bigRows = []
const compressed = (ms, factor) => Math.round(ms / factor)
const started = Date.now()

try {
  for (const kind of ONLY ? [ONLY] : ['s3', 'fs']) {
    const label = kind === 's3' ? 's3rver' : 'fs'
    // 1. Poll every 1 s, as today (the heartbeat at half its interval: see POLL1_WINDOW_MS).
    if (CONFIGS.includes('poll1')) {
      const app = `${kind}-poll1`
      const fleet = await startFleet(kind, app, {
        pollInterval: 1000,
        heartbeatInterval: 60_000 / HEARTBEAT_1S_FACTOR,
      })
      const rates = await idleRates(fleet, POLL1_WINDOW_MS, 1, HEARTBEAT_1S_FACTOR)
      const pick = await pickup(fleet, app, { timeoutMs: 60_000 })
      await fleet.stop()
      results.push({ storage: label, config: 'poll 1 s', rates, pickup: pick, startMs: fleet.startMs })
      rows.push(row(label, 'poll 1 s', pick, rates, `real time (heartbeat ÷${HEARTBEAT_1S_FACTOR})`))
    }
    // 2. Poll every 60 s, no notifier: time-compressed.
    if (CONFIGS.includes('poll60')) {
      const app = `${kind}-poll60`
      const fleet = await startFleet(kind, app, {
        pollInterval: compressed(60_000, POLL60_COMPRESSION),
        heartbeatInterval: compressed(60_000, POLL60_COMPRESSION),
      })
      const rates = await idleRates(fleet, POLL60_WINDOW_MS, POLL60_COMPRESSION)
      const pick = await pickup(fleet, app, { timeoutMs: 60_000, compression: POLL60_COMPRESSION })
      await fleet.stop()
      results.push({ storage: label, config: 'poll 60 s', rates, pickup: pick, startMs: fleet.startMs })
      rows.push(row(label, 'poll 60 s', pick, rates, `×${POLL60_COMPRESSION} compressed`))
    }
    // 3. Redis notifier + default safety net: pickup (and the 10 MB fetch) in real time with the
    //    real defaults; idle rates from a compressed fleet.
    if (CONFIGS.includes('notify')) {
      const notifier = redisNotifier({ url: redis.url })
      const app = `${kind}-notify`
      const fleet = await startFleet(kind, app, { notify: redis.url })
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      const pick = await pickup(fleet, app, { notifier, timeoutMs: 60_000 })
      if (artifact) {
        const before = kind === 's3' ? await s3.stats({ resetPeak: true }) : undefined
        const countsBefore = await fleet.counts()
        const big = await pickup(fleet, app, { notifier, bigBytes: BIG_ARTIFACT_BYTES, timeoutMs: 300_000 })
        const countsAfter = await fleet.counts()
        const after = kind === 's3' ? await s3.stats() : undefined
        bigRows.push({
          storage: label,
          machines: MACHINES,
          artifact: '10 MiB',
          completed: big.completed,
          'p50 s': round(percentile(big.times, 50) / 1000, 2),
          'all completed s': round(Math.max(...big.times) / 1000, 2),
          'requests GET/PUT': `${countsAfter.GET - countsBefore.GET}/${countsAfter.PUT - countsBefore.PUT}`,
          'MiB served': after ? round((after.bytesOut - before.bytesOut) / 2 ** 20, 0) : '(page cache)',
          'peak concurrent requests': after ? after.peakConcurrent : '',
        })
      }
      await fleet.stop()
      await notifier.close()

      const idle = await startFleet(kind, `${kind}-notify-idle`, {
        notify: redis.url,
        pollInterval: compressed(60_000, NOTIFY_COMPRESSION),
        heartbeatInterval: compressed(600_000, NOTIFY_COMPRESSION),
      })
      const rates = await idleRates(idle, NOTIFY_WINDOW_MS, NOTIFY_COMPRESSION)
      await idle.stop()
      results.push({
        storage: label,
        config: 'redis + safety net',
        rates,
        pickup: pick,
        startMs: fleet.startMs,
      })
      rows.push(
        row(label, 'redis + 60 s safety net', pick, rates, `pickup real time; idle ×${NOTIFY_COMPRESSION}`),
      )
    }
  }
} finally {
  clearInterval(keepAlive)
  await s3.stop()
  await redis.stop()
  await rm(work, { recursive: true, force: true, maxRetries: 5 })
  await rm(stateBase, { recursive: true, force: true, maxRetries: 5 })
}

function row(storage, config, pick, rates, how) {
  const s = summary(pick.times)
  const total = rates.GET + rates.PUT + rates.LIST
  const cost = monthly(rates)
  return {
    storage,
    config,
    machines: MACHINES,
    completed: pick.completed,
    'pickup p50 s': s.p50,
    'p99 s': s.p99,
    'max s': s.max,
    'started p99 s': round(pick.startedP99 / 1000, 2),
    'swapped p99 s': pick.swappedP99 === null ? '' : round(pick.swappedP99 / 1000, 2),
    'apply p50 ms': round(pick.applyP50, 0),
    'CPU ms/apply': round(pick.cpuPerApply, 1),
    'gc after s': round(pick.gcMs / 1000, 2),
    'S3 req/s': pick.serverRate === null ? '' : round(pick.serverRate, 0),
    's3rver CPU': pick.serverCpu === null ? '' : `${round(pick.serverCpu * 100, 0)} %`,
    'CPU ms/req': pick.serverCpuPerRequest === null ? '' : round(pick.serverCpuPerRequest, 2),
    'GET/h': round(rates.GET, 1),
    'PUT/h': round(rates.PUT, 1),
    'LIST/h': round(rates.LIST, 1),
    'total/h': round(total, 1),
    'S3 $/mo': cost.s3,
    'R2 $/mo': cost.r2,
    'Tigris $/mo': cost.tigris,
    measured: how,
  }
}

printTable(
  rows,
  `Fleet simulation: ${MACHINES} machines in ${PROCESSES} processes; idle requests per machine-hour; monthly request cost for ${FLEET} machines (${HOURS_PER_MONTH} h)`,
)
if (artifact)
  printTable(
    bigRows,
    `${MACHINES} machines fetch a 10 MiB artifact at the same moment (Redis notifier rings them all; no fetch jitter)`,
  )
console.log(
  `\nprices (list, by request class, as documented on ${PRICES.date}; free tiers ignored; DELETE is free on all three):`,
)
for (const key of ['s3-standard', 'r2', 'tigris']) console.log(`  ${PRICES[key].source}`)
console.log(
  'counts: s3rver rows count what the server received (counted inside its process); fs rows count every Storage call in the machine processes.\n' +
    `time compression: "×N" rows ran every interval N× shorter (poll 60 s ×${POLL60_COMPRESSION}: idle over ${POLL60_WINDOW_MS / 1000} s = ${Math.round((POLL60_WINDOW_MS * POLL60_COMPRESSION) / 60_000)} min of fleet time; notifier ×${NOTIFY_COMPRESSION}: ${NOTIFY_WINDOW_MS / 1000} s = ${Math.round((NOTIFY_WINDOW_MS * NOTIFY_COMPRESSION) / 60_000)} min) and were scaled back; the poll-60 s pickup is, per machine, (pointer moved → upgrade started) ×${POLL60_COMPRESSION} + (started → completed).\n` +
    `poll 1 s: idle over ${POLL1_WINDOW_MS / 1000} s in real time, its 60 s heartbeat run at ${60 / HEARTBEAT_1S_FACTOR} s so that a whole period fits (PUTs scaled ÷${HEARTBEAT_1S_FACTOR}).\n` +
    'the notifier pickup ran in real time with the real defaults (60 s safety-net poll, 10 min heartbeat): only the notice explains a pickup within seconds.\n' +
    "pickup: pointer moved → the machine's completed result written (what relup publish waits for). started p99: pointer moved → the machine read it and started the upgrade (the notice, or the wait for the next poll); swapped p99 (real-time rows): → the stand-in engine swapped, the new code running. apply p50: started → completed (artifact fetched, verified and extracted, stand-in swap, local marker, completed result; a pending result only for a download past 2 s), all machines at once. CPU ms/apply: the machine processes' CPU per machine from the publish until the machine records (which follow the results within 2 s) have landed. gc after: the publish's retention pass (reads every machine record), run once the pickup was measured. S3 req/s (real-time s3rver rows): the requests s3rver answered from the publish to the last completed result, per second: each upgrade takes 3 per machine (the pointer, the artifact, the result; the record follows), so at this rate the server alone bounds the pickup. s3rver CPU: the CPU the server process used over that window, per second of it, and per request answered (CPU ms/req). s3rver is one Node process: the machines × 3 requests × that cost is CPU the server must spend on one core before the last machine completes (the goals table's server floor).",
)
const notifyRows = rows.filter((r) => r.config.startsWith('redis'))
const goals = notifyRows.map((r) => ({
  storage: r.storage,
  'pickup p99 <= 1 s': r['p99 s'] <= 1 ? `yes (${r['p99 s']} s)` : `NO (${r['p99 s']} s)`,
  'notice → started p99': `${r['started p99 s']} s`,
  'swapped p99': `${r['swapped p99 s']} s`,
  // One core's worth of server work the pickup cannot beat: 3 requests per machine at the measured cost.
  'server floor': r['CPU ms/req'] === '' ? '' : `${round((MACHINES * 3 * r['CPU ms/req']) / 1000, 2)} s`,
  'idle <= 72/machine-hour': r['total/h'] <= 72 ? `yes (${r['total/h']})` : `NO (${r['total/h']})`,
}))
printTable(goals, 'Goals (Redis notifier + default safety net)')
console.log(`\ntotal run ${Math.round((Date.now() - started) / 1000)} s`)
// Only the default run (both storages, all configurations, 500 machines) is `fleet-sim.json`.
const partial = quick || ONLY !== undefined || CONFIGS.length < 3 || arg('--machines') !== undefined
writeResult(partial ? 'fleet-sim-partial' : 'fleet-sim', {
  machines: MACHINES,
  processes: PROCESSES,
  compression: { poll60: POLL60_COMPRESSION, notify: NOTIFY_COMPRESSION },
  windowsMs: { poll1: POLL1_WINDOW_MS, poll60: POLL60_WINDOW_MS, notify: NOTIFY_WINDOW_MS },
  prices: PRICES,
  rows,
  artifactFetch: bigRows,
  goals,
  raw: results.map((r) => ({ ...r, pickup: { completed: r.pickup.completed, ...summary(r.pickup.times) } })),
})
