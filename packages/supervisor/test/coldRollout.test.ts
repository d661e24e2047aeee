import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ColdPointer, coldKey, parseColdPointer, readDocument, relupKeys } from '@relup/core'
import { openNotifierUrl, publishCold, publishColdRollout } from '@relup/publisher'
import { fsStorage } from '@relup/storage-fs'
import { fakeFleet, type MessageServer, serverAvailability, startServer } from '@relup/testkit'
import { afterEach, describe, expect, it } from 'vitest'
import { followColdReleases, openColdNotifier, type SupervisorEvent } from '../src/index.js'
import { APP, get, release, stopAll, supervise, until } from './helpers.js'

const packages = fileURLToPath(new URL('../..', import.meta.url))
const APP_NAME = 'shop'
const keys = relupKeys(APP_NAME)
const cleanups: (() => Promise<unknown>)[] = []
const shop = fakeFleet(APP_NAME, (fn) => cleanups.push(fn))
afterEach(async () => {
  await stopAll()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function temp(name: string) {
  const dir = await mkdtemp(join(tmpdir(), `relup-cold-rollout-${name}-`))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A built app with its production dependencies. `crashes`: it dies a moment after it said ready;
 * `unhealthy`: it says so (its own health check) a moment after it said ready, and keeps serving.
 */
async function coldBuild(version: string, { crashes = false, unhealthy = false } = {}) {
  const dir = await temp(`build-${version}`)
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'shop', version, type: 'module', dependencies: { '@relup/supervisor': '*' } }),
  )
  await cp(APP, join(dir, 'app.mjs'))
  await writeFile(
    join(dir, 'server.mjs'),
    crashes
      ? "process.env.APP_MODE = 'crash-after-ready'\nprocess.env.APP_CRASH_AFTER_MS = '300'\nawait import('./app.mjs')\n"
      : unhealthy
        ? "import { unhealthy } from '@relup/supervisor/app'\nawait import('./app.mjs')\nsetTimeout(() => unhealthy('the database is unreachable'), 300)\n"
        : "await import('./app.mjs')\n",
  )
  for (const name of ['supervisor', 'core']) {
    const into = join(dir, 'node_modules', '@relup', name)
    await mkdir(into, { recursive: true })
    await cp(join(packages, name, 'dist'), join(into, 'dist'), { recursive: true })
    await cp(join(packages, name, 'package.json'), join(into, 'package.json'))
  }
  return dir
}

type Store = ReturnType<typeof fsStorage>

interface Machine {
  id: string
  origin: string
  events: SupervisorEvent[]
  /** When each release's process was spawned here. */
  spawnedAt: Map<string, number>
  serving(): string | undefined
}

/** Machines under a supervisor each, following one storage's cold releases. */
async function fleet(ids: string[], follow: { pollInterval?: number; notifier?: boolean } = {}) {
  const storage = fsStorage({ dir: await temp('store') })
  cleanups.push(async () => storage.close?.())
  const machines: Machine[] = []
  for (const id of ids) {
    const { supervisor, events, origin } = await supervise(release('base'))
    const spawnedAt = new Map<string, number>()
    supervisor.subscribe((event) => {
      if (event.type === 'spawned' && !spawnedAt.has(event.release)) spawnedAt.set(event.release, Date.now())
    })
    const notifier = follow.notifier ? await openColdNotifier(server!.url) : undefined
    if (notifier) cleanups.push(() => notifier.close())
    const follower = followColdReleases({
      storage,
      app: APP_NAME,
      machineId: id,
      releasesDir: await temp(`releases-${id}`),
      supervisor,
      pollInterval: follow.pollInterval ?? 100,
      notifier,
    })
    cleanups.push(() => follower.stop())
    // The record its app's runtime (startRelup) writes: how a publisher knows the fleet.
    await shop.announceMachine(storage, id, 'base', { pollIntervalMs: 100 })
    machines.push({ id, origin, events, spawnedAt, serving: () => supervisor.current?.release })
  }
  return { storage, machines }
}

const command = [process.execPath, 'server.mjs']

async function coldPointer(storage: Store): Promise<ColdPointer> {
  const read = await readDocument(storage, coldKey(keys), parseColdPointer)
  if (read.status !== 'ok') throw new Error('no cold.json')
  return read.document
}

/** Publish `version` to every machine at once and wait until each serves it. */
async function stableRelease(storage: Store, machines: Machine[], version: string) {
  const stable = await publishCold({
    storage,
    app: APP_NAME,
    dir: await coldBuild(version),
    command,
    reason: '--cold',
  })
  await until(
    `every machine on ${version}`,
    () => machines.every((m) => m.serving() === stable.releaseId),
    15_000,
  )
  return stable
}

const waves = { timeoutMs: 15_000, pollMs: 50, ackTimeoutMs: 5_000 }

describe('staged rollouts of cold releases', () => {
  it('a candidate that crashes after ready sends the canary back to stable, reported failed; the others never run it and the rollout halts', async () => {
    const { storage, machines } = await fleet(['m1', 'm2', 'm3'])
    const stable = await stableRelease(storage, machines, '1.0.0')
    const outcome = await publishColdRollout({
      storage,
      app: APP_NAME,
      dir: await coldBuild('2.0.0', { crashes: true }),
      command,
      reason: '--cold',
      rollout: { plan: '1,100%', healthWindowMs: 2_000 },
      ...waves,
    })
    const candidate = outcome.release
    expect(outcome.ok).toBe(false)
    expect(outcome.report?.state).toBe('halted')
    expect(outcome.report?.waves).toHaveLength(1)
    const [canaryId] = outcome.report?.waves[0]?.machines ?? []
    expect(outcome.report?.waves[0]?.machines).toHaveLength(1)
    expect(outcome.report?.failures).toEqual([
      { machineId: canaryId, status: 'failed', reason: expect.stringMatching(/health window/) },
    ])
    const canary = machines.find((m) => m.id === canaryId)!
    const result = outcome.outcomes.find((o) => o.machineId === canaryId)?.result
    expect(result?.error).toMatchObject({ code: 'ERR_RELUP_UNHEALTHY', phase: 'probation' })
    // The canary serves the stable release again; the others never started the candidate.
    expect(canary.serving()).toBe(stable.releaseId)
    expect((await get(canary.origin)).version).toBe('1.0.0')
    for (const machine of machines.filter((m) => m !== canary)) {
      expect(machine.spawnedAt.has(candidate.releaseId)).toBe(false)
      expect(machine.serving()).toBe(stable.releaseId)
    }
    // The stable release is unchanged; the candidate is gone and remembered as bad.
    const pointer = await coldPointer(storage)
    expect(pointer.release?.releaseId).toBe(stable.releaseId)
    expect(pointer.candidate ?? null).toBeNull()
    expect(pointer.badReleases).toEqual([candidate.releaseId])
    // Never retried: one process of the candidate was ever started on the canary.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(
      canary.events.filter((e) => e.type === 'spawned' && e.release === candidate.releaseId),
    ).toHaveLength(1)
  })

  it('a candidate that reports itself unhealthy is replaced by the stable release beside it, the state handed over', async () => {
    const { storage, machines } = await fleet(['m1', 'm2'])
    const stable = await stableRelease(storage, machines, '1.0.0')
    const publishing = publishColdRollout({
      storage,
      app: APP_NAME,
      dir: await coldBuild('2.0.0', { unhealthy: true }),
      command,
      reason: '--cold',
      rollout: { plan: '1,100%', healthWindowMs: 5_000 },
      ...waves,
    })
    // Count on the canary while it runs the candidate: the count must survive going back.
    const canary = await until(
      'the canary on the candidate',
      () => machines.find((m) => m.serving() !== stable.releaseId),
      10_000,
    )
    const candidateId = canary.serving()!
    let counted = 0
    while (canary.serving() === candidateId) {
      await get(canary.origin, '/inc', 'POST').catch(() => {})
      counted = (await get(canary.origin)).counter
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const outcome = await publishing
    expect(outcome.report?.state).toBe('halted')
    expect(outcome.report?.failures[0]?.reason).toMatch(
      /reported itself unhealthy \(the database is unreachable\) \d+ ms into its health window/,
    )
    expect(canary.serving()).toBe(stable.releaseId)
    const after = await get(canary.origin)
    expect(after.version).toBe('1.0.0')
    expect(after.counter).toBeGreaterThanOrEqual(counted)
    expect(counted).toBeGreaterThan(0)
    // Beside it, not after it died: the candidate drained (it was not killed or crashed).
    expect(canary.events).toContainEqual(
      expect.objectContaining({ type: 'drained', release: candidateId, killed: false }),
    )
    expect(canary.events.some((e) => e.type === 'exited' && e.release === candidateId && !e.expected)).toBe(
      false,
    )
  })

  it('a good candidate rolls out wave by wave and is promoted: every machine runs it, cold.json names it as the release', async () => {
    const { storage, machines } = await fleet(['m1', 'm2', 'm3'])
    const stable = await stableRelease(storage, machines, '1.0.0')
    const healthWindowMs = 800
    const outcome = await publishColdRollout({
      storage,
      app: APP_NAME,
      dir: await coldBuild('2.0.0'),
      command,
      reason: '--cold',
      rollout: { plan: '1,100%', healthWindowMs },
      ...waves,
    })
    const candidate = outcome.release
    expect(outcome.ok).toBe(true)
    expect(outcome.report?.state).toBe('promoted')
    expect(outcome.report?.waves.map((w) => w.machines.length)).toEqual([1, 3])
    expect(outcome.outcomes.map((o) => o.status)).toEqual(['completed', 'completed', 'completed'])
    for (const machine of machines) {
      expect(machine.serving()).toBe(candidate.releaseId)
      expect((await get(machine.origin)).version).toBe('2.0.0')
    }
    // The second wave started only after the canary's health window passed.
    const canaryId = outcome.report?.waves[0]?.machines[0]
    const canary = machines.find((m) => m.id === canaryId)!
    const canaryStart = canary.spawnedAt.get(candidate.releaseId)!
    for (const machine of machines.filter((m) => m !== canary))
      expect(machine.spawnedAt.get(candidate.releaseId)!).toBeGreaterThanOrEqual(canaryStart + healthWindowMs)
    const pointer = await coldPointer(storage)
    expect(pointer.release?.releaseId).toBe(candidate.releaseId)
    expect(pointer.candidate ?? null).toBeNull()
    expect(pointer.previous[0]?.releaseId).toBe(stable.releaseId)
  })
})

const redis = serverAvailability('redis')
if (!redis.run) console.warn(`supervisor cold notice test skipped: ${redis.reason}`)
let server: MessageServer | undefined

describe.skipIf(!redis.run)('cold notices (Redis)', () => {
  it('a supervisor with a slow safety-net poll takes a cold release at once when the publisher announces it', async () => {
    server = await startServer('redis')
    cleanups.push(() => server!.stop())
    const { storage, machines } = await fleet(['m1'], { pollInterval: 60_000, notifier: true })
    const [machine] = machines
    // Its first read of cold.json is done: from now on only a notice (or a minute) brings news.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const notifier = await openNotifierUrl(server.url)
    cleanups.push(() => notifier.close())
    const started = Date.now()
    const published = await publishCold({
      storage,
      app: APP_NAME,
      dir: await coldBuild('2.0.0'),
      command,
      reason: '--cold',
      notifier,
    })
    await until('the release served', () => machine!.serving() === published.releaseId, 10_000)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect((await get(machine!.origin)).version).toBe('2.0.0')
  })
})
