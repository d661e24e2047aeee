// Storage growth: 1,000 real publishes (`publish()` of @relup/publisher, each a new build) to the
// filesystem storage, with three machines reporting a result for each upgrade as the runtime does
// (one of them stays on the first upgrade: a laggard whose release must be kept). Side by side in
// the same run: the default retention policy applied after each publish, and no retention (what
// relup did before `relup gc`). Prints the objects under the app's prefix along the way, the
// documented ceiling, and what the policy costs per publish (time, storage requests).
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fingerprint, listAll, relupKeys, writeDocument } from '@relup/core'
import { DEFAULT_KEEP, publish } from '@relup/publisher'
import { fsStorage } from '@relup/storage-fs'
import { percentile, printTable, round, writeResult } from './lib.mjs'

const PUBLISHES = process.argv.includes('--quick') ? 200 : 1000
const APP = 'growth'
const MACHINES = ['m1', 'm2', 'm3']
/** The machine that stays on the first upgrade. */
const LAGGARD = 'm3'
const keys = relupKeys(APP)
const work = await mkdtemp(join(tmpdir(), 'relup-growth-bench-'))

/**
 * The documented ceiling (packages/publisher/README.md): current.json, gc.json, one record per
 * machine, and for each kept upgrade its history entry, its artifact and one result per machine.
 * Kept upgrades: `keep`, the rollback target, a candidate, and one per machine on an older one.
 */
const keptUpgrades = DEFAULT_KEEP + 2 + MACHINES.length
const CEILING = 2 + MACHINES.length + keptUpgrades * (2 + MACHINES.length)

/** `inner`, counting every call by operation. */
function counting(inner) {
  const calls = { get: 0, put: 0, list: 0, delete: 0 }
  const counted =
    (op, call) =>
    (...args) => {
      calls[op]++
      return call(...args)
    }
  const storage = {
    ...inner,
    get: counted('get', inner.get),
    getStream: counted('get', inner.getStream),
    put: counted('put', inner.put),
    list: counted('list', inner.list),
    delete: counted('delete', inner.delete),
  }
  const total = () => calls.get + calls.put + calls.list + calls.delete
  return { storage, calls, total }
}

async function countObjects(storage) {
  let n = 0
  for await (const _ of listAll(storage, keys.prefix)) n++
  return n
}

const now = () => new Date().toISOString()
function record(machineId, hot) {
  return {
    schema: 1,
    app: APP,
    machineId,
    region: 'ams',
    baseRef: 'image-1',
    hotRef: hot.sourceRef,
    version: hot.version,
    upgradeId: hot.upgradeId,
    fingerprint: fingerprint('image-1', hot.sourceRef),
    startedAt: now(),
    updatedAt: now(),
    lastResult: null,
    heartbeatMs: 60_000,
    stoppedAt: null,
  }
}

/** What the runtime writes for an upgrade it completed: its result, then its record. */
async function machinesApply(storage, hot, machines) {
  for (const machineId of machines) {
    const at = now()
    await writeDocument(storage, keys.result(hot.upgradeId, machineId), {
      schema: 1,
      upgradeId: hot.upgradeId,
      machineId,
      region: 'ams',
      baseRef: hot.baseRef,
      version: hot.version,
      attempt: 1,
      startedAt: at,
      status: 'completed',
      finishedAt: at,
      stats: {
        modulesReloaded: 1,
        moduleNames: ['handler.js'],
        unitsMigrated: 0,
        unitNames: [],
        unitsFailed: 0,
        pauseMs: 0.2,
        totalMs: 12,
      },
      error: null,
    })
    await writeDocument(storage, keys.machine(machineId), record(machineId, hot))
  }
}

async function run(label, gc) {
  const dir = join(work, label)
  const { storage, calls, total } = counting(fsStorage({ dir }))
  const hotDir = join(work, `${label}-hot`)
  const samples = []
  const publishMs = []
  const requests = []
  let max = 0
  let first
  for (let i = 1; i <= PUBLISHES; i++) {
    await rm(hotDir, { recursive: true, force: true })
    await mkdir(hotDir, { recursive: true })
    await writeFile(join(hotDir, 'handler.js'), `module.exports = () => ${i}\n`)
    const before = total()
    const started = performance.now()
    const outcome = await publish({
      storage,
      app: APP,
      dir: hotDir,
      version: `v${i}`,
      baseRef: 'image-1',
      wait: false,
      gc,
      skipChecks: true,
    })
    publishMs.push(performance.now() - started)
    requests.push(total() - before)
    if (outcome.warnings.length > 0) throw new Error(`publish v${i}: ${outcome.warnings.join('; ')}`)
    if (i === 1) first = outcome.upgrade
    await machinesApply(storage, outcome.upgrade, i === 1 ? MACHINES : MACHINES.filter((m) => m !== LAGGARD))
    // The laggard is alive (its heartbeat, compressed like the publishes): still on the first upgrade.
    if (i > 1) await writeDocument(storage, keys.machine(LAGGARD), record(LAGGARD, first))
    const objects = await countObjects(storage)
    max = Math.max(max, objects)
    if (i === 1 || i % (PUBLISHES / 10) === 0) samples.push({ publishes: i, objects })
  }
  const final = await countObjects(storage)
  await storage.close()
  return {
    label,
    samples,
    final,
    max,
    publishP50: percentile(publishMs, 50),
    publishP99: percentile(publishMs, 99),
    requestsPerPublish: requests.reduce((a, b) => a + b, 0) / requests.length,
    calls,
  }
}

const withGc = await run('retention', true)
const withoutGc = await run('no-retention', false)

// `relup gc` (the built CLI) on the store that kept all its publishes: the dry run, then the run.
const bin = fileURLToPath(new URL('../packages/cli/dist/relup.js', import.meta.url))
function relupGc(...flags) {
  const started = performance.now()
  const argv = [bin, 'gc', '--app', APP, '--storage', `file://${join(work, 'no-retention')}`, ...flags]
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`relup gc ${flags.join(' ')} exited ${r.status}: ${r.stderr}`)
  return { ms: performance.now() - started, stdout: r.stdout }
}
const dry = relupGc('--dry-run')
const wouldDelete = dry.stdout.split('\n').filter((line) => line.startsWith('would delete ')).length
const real = relupGc('--json')
const done = JSON.parse(real.stdout)
const deleted = done.deleted.history.length + done.deleted.results.length + done.deleted.artifacts.length
const collected = fsStorage({ dir: join(work, 'no-retention') })
const afterCli = await countObjects(collected)
await collected.close()
await rm(work, { recursive: true, force: true })

printTable(
  withGc.samples.map((s, i) => ({
    publishes: s.publishes,
    'objects, default policy': s.objects,
    'objects, no retention': withoutGc.samples[i].objects,
    ceiling: CEILING,
  })),
  `objects under ${keys.prefix} after N publishes (keep ${DEFAULT_KEEP}, ${MACHINES.length} machines, filesystem storage)`,
)
printTable(
  [withGc, withoutGc].map((r) => ({
    run: r.label,
    'objects at the end': r.final,
    'max objects': r.max,
    'publish p50 ms': round(r.publishP50, 1),
    'publish p99 ms': round(r.publishP99, 1),
    'storage requests / publish': round(r.requestsPerPublish, 1),
  })),
  'the policy after each publish, against none',
)
printTable(
  [
    {
      command: 'relup gc --dry-run',
      ms: round(dry.ms, 0),
      keys: `${wouldDelete} listed (would delete)`,
      'objects after': withoutGc.final,
    },
    { command: 'relup gc', ms: round(real.ms, 0), keys: `${deleted} deleted`, 'objects after': afterCli },
  ],
  `relup gc on the store of the run without retention (${PUBLISHES} publishes, ${withoutGc.final} objects)`,
)
const ok = withGc.max <= CEILING && afterCli <= CEILING && wouldDelete === deleted
console.log(
  `\ngoal: objects stay under the ceiling of ${CEILING} → ${ok ? 'met' : 'NOT met'} (max ${withGc.max})`,
)
writeResult('storage-growth', {
  publishes: PUBLISHES,
  keep: DEFAULT_KEEP,
  machines: MACHINES.length,
  ceiling: CEILING,
  retention: withGc,
  noRetention: withoutGc,
  gcCli: { dryRunMs: dry.ms, wouldDelete, runMs: real.ms, deleted, objectsAfter: afterCli },
  goalMet: ok,
})
if (!ok) process.exitCode = 1
