/**
 * Staged rollouts end to end: six demo servers (real processes) under steady traffic and the real
 * `relup` binary on the filesystem storage. A good release goes out wave by wave, each wave only
 * adding machines; a release that throws on half of one route reaches the canary only, which
 * reverts itself in process; the publisher halts, the pointer goes back to stable, exit 1.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cohortOf, parseCurrentPointer, readDocument, relupKeys } from '@relup/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoServer } from '../src/demoProcess.js'
import { hotDir } from '../src/paths.js'
import { runRelupCli } from '../src/relupCli.js'
import { type FleetBackend, fileBackend } from './fleet/backends.js'
import { APP, Fleet, until } from './fleet/fleet.js'
import { describeRun, getJson, increment } from './helpers.js'

const BASE = 'img-1'
const IDS = ['ro-1', 'ro-2', 'ro-3', 'ro-4', 'ro-5', 'ro-6']
const keys = relupKeys(APP)

describe('a staged rollout on six machines', () => {
  let backend: FleetBackend
  let fleet: Fleet
  let machines: DemoServer[] = []
  let stopLoad = () => {}
  const failedRequests: string[] = []
  /** Machines the test kills itself: their requests are not counted. */
  const killedOnPurpose = new Set<DemoServer>()

  /** Every machine gets GET /api/hello about every 10 ms; requests left without an answer are counted. */
  function load() {
    let stopped = false
    const loops = machines.map(async (server) => {
      while (!stopped) {
        if (killedOnPurpose.has(server)) return
        const response = await fetch(`${server.url}/api/hello`).catch(() => null)
        if (response === null && !killedOnPurpose.has(server))
          failedRequests.push(`${server.ready.machineId}: no answer`)
        else if (response !== null) await response.arrayBuffer()
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    })
    stopLoad = () => {
      stopped = true
      return Promise.all(loops)
    }
  }

  beforeAll(async () => {
    backend = await fileBackend.open()
    fleet = await Fleet.create(backend)
    machines = await fleet.startAll(IDS, BASE)
    load()
  }, 60_000)
  afterAll(async () => {
    await stopLoad()
    await fleet?.cleanUp()
    await backend?.close()
  })

  it('a good release goes out wave by wave (1, 50 %, 100 %), each wave adding machines, then becomes the stable release', async () => {
    const run = await fleet.publish('v2', {
      args: ['--rollout', '1,50%,100%', '--health-window', '1s'],
    })
    expect(run.code, describeRun(run)).toBe(0)
    const { rollout } = run.json
    expect(rollout.state).toBe('promoted')
    // The canary is exactly one machine; a percentage admits machines by their cohort's hash (about half).
    const sizes = rollout.waves.map((w: { machines: string[] }) => w.machines.length)
    expect(sizes[0]).toBe(1)
    expect(sizes[2]).toBe(6)
    expect(sizes[1]).toBeGreaterThanOrEqual(1)
    const [first, second, third] = rollout.waves.map((w: { machines: string[] }) => new Set(w.machines))
    expect([...first].every((id) => second.has(id))).toBe(true)
    expect([...second].every((id) => third.has(id))).toBe(true)
    expect(run.json.machines.every((m: { status: string }) => m.status === 'completed')).toBe(true)
    const versions = await Promise.all(
      machines.map(async (m) => (await getJson(m, '/api/version')).body.version),
    )
    expect(versions).toEqual(IDS.map(() => 'v2'))
    const read = await readDocument(backend.storage, keys.current, parseCurrentPointer)
    expect(read.status === 'ok' && read.document.candidate).toBeNull()
    expect(read.status === 'ok' && read.document.hot?.version).toBe('v2')
  }, 60_000)

  it('a release that throws on half of one route reaches only the canary, which reverts itself; the publisher halts and exits 1', async () => {
    for (const server of machines) await increment(server)
    const bad = join(fleet.dir, 'v3-bad')
    await cp(hotDir('v2'), bad, { recursive: true })
    const router = await readFile(join(bad, 'router.js'), 'utf8')
    await writeFile(
      join(bad, 'router.js'),
      router.replace(
        "GET: (_req, res) => sendJson(res, 200, { hello: 'from v2' }),",
        "GET: (_req, res) => { if (Math.random() < 0.5) throw new Error('v3 is broken'); sendJson(res, 200, { hello: 'from v3' }) },",
      ),
    )
    const run = await fleet.publish('v3-bad', {
      dir: bad,
      args: ['--rollout', '1,50%,100%', '--health-window', '5s'],
    })
    expect(run.code, describeRun(run)).toBe(1)
    const { rollout } = run.json
    expect(rollout.state).toBe('halted')
    expect(rollout.waves).toHaveLength(1)
    const [canary] = rollout.waves[0].machines
    expect(rollout.failures).toEqual([
      expect.objectContaining({
        machineId: canary,
        status: 'failed',
        reason: expect.stringMatching(/unhealthy/),
      }),
    ])
    expect(run.json.machines).toEqual([
      expect.objectContaining({
        machineId: canary,
        status: 'failed',
        health: expect.objectContaining({ errors: expect.any(Number) }),
      }),
    ])
    // No other machine ever loaded it: only the canary wrote a result for it.
    const upgradeId = run.json.upgradeId
    const results = (await fleet.results()).filter((r) => r.upgradeId === upgradeId).map((r) => r.machineId)
    expect(results).toEqual([canary])
    const read = await readDocument(backend.storage, keys.current, parseCurrentPointer)
    if (read.status !== 'ok') throw new Error('no pointer')
    expect(read.document.hot?.version).toBe('v2')
    expect(read.document.candidate).toBeNull()
    expect(read.document.badUpgrades).toContain(upgradeId)
    // Everyone on v2, the canary's counter kept through v2 → v3 → v2.
    const after = await until(
      () => Promise.all(machines.map(async (m) => (await getJson(m, '/api/version')).body.version)),
      (versions) => versions.every((v) => v === 'v2'),
      5000,
    )
    expect(after).toEqual(IDS.map(() => 'v2'))
    const server = machines.find((m) => m.ready.machineId === canary)!
    expect((await increment(server)).count).toBe(2)
    expect(failedRequests).toEqual([])
  }, 60_000)

  const pointerNow = async () => {
    const read = await readDocument(backend.storage, keys.current, parseCurrentPointer)
    if (read.status !== 'ok') throw new Error('no pointer')
    return read.document
  }

  /** `relup publish v3 --rollout 1,50%,100%`, killed with SIGKILL once the canary is on probation. */
  async function publishAndKill(windowMs = 1000): Promise<string> {
    const abort = new AbortController()
    const run = runRelupCli(
      [
        'publish',
        hotDir('v3'),
        '--version',
        `v3-${Date.now()}`,
        '--rollout',
        '1,50%,100%',
        '--health-window',
        `${windowMs}ms`,
        '--app',
        APP,
        '--storage',
        backend.storageUrl,
        '--json',
      ],
      { signal: abort.signal, timeoutMs: 30_000 },
    )
    const pointer = await until(pointerNow, (p) => p.candidate !== null && p.candidate !== undefined, 15_000)
    const upgradeId = pointer.candidate!.upgrade.upgradeId
    // The canary passes its window meanwhile: a live publisher would widen now.
    await until(
      async () => (await fleet.results()).some((r) => r.upgradeId === upgradeId),
      (seen) => seen,
      10_000,
    )
    abort.abort()
    const killed = await run
    expect(killed.code).toBeNull() // killed by the signal
    return upgradeId
  }

  it('a publisher killed mid-rollout leaves it at its wave; a machine that joins boots by its cohort; `relup rollout resume` completes it', async () => {
    const upgradeId = await publishAndKill()
    await new Promise((resolve) => setTimeout(resolve, 2500)) // two health windows: nothing widens unattended
    const held = await pointerNow()
    expect(held.candidate?.rollout.wave).toBe(0)
    expect(held.candidate?.upgrade.upgradeId).toBe(upgradeId)

    const status = await fleet.cli('rollout', ['status'])
    expect(status.code, describeRun(status)).toBe(0)
    expect(status.json.candidate).toMatchObject({ upgradeId, wave: 1, waves: 3, plan: '1,50%,100%' })
    expect(status.json.machines.filter((m: { inWave: boolean }) => m.inWave)).toHaveLength(1)

    // A machine that starts now runs the candidate only if its cohort is in the wave.
    const joiner = await fleet.start('ro-late', BASE)
    const inWave = cohortOf('ro-late', upgradeId) < held.candidate!.rollout.threshold
    expect((await getJson(joiner, '/api/version')).body.version).toBe(
      inWave ? held.candidate!.upgrade.version : 'v2',
    )
    machines.push(joiner)

    const resumed = await fleet.cli('rollout', ['resume', '--timeout', '20s'])
    expect(resumed.code, describeRun(resumed)).toBe(0)
    expect(resumed.json.rollout.state).toBe('promoted')
    const after = await pointerNow()
    expect(after.candidate).toBeNull()
    expect(after.hot?.upgradeId).toBe(upgradeId)
  }, 90_000)

  it('a machine killed on probation restarts on its last good release and reports the candidate failed; `relup rollout abort` returns the fleet to stable', async () => {
    const stable = (await pointerNow()).hot!
    const upgradeId = await publishAndKill(30_000)
    const canaryId = (await fleet.cli('rollout', ['status'])).json.machines.find(
      (m: { inWave: boolean }) => m.inWave,
    ).machineId as string
    // On probation (committed, probation.json written), not merely acknowledged: then kill it.
    await until(
      () => fleet.cli('rollout', ['status']),
      (run) =>
        run.json.machines.find((m: { machineId: string }) => m.machineId === canaryId)?.status ===
        'probation',
      10_000,
    )
    const index = machines.findIndex((m) => m.ready.machineId === canaryId)
    const killed = machines[index]!
    killedOnPurpose.add(killed)
    killed.child.kill('SIGKILL')
    await killed.exited
    const restarted = await fleet.start(canaryId, BASE)
    machines[index] = restarted
    expect((await getJson(restarted, '/api/version')).body.version).toBe(stable.version)
    const results = await until(
      () => fleet.cli('rollout', ['status']),
      (run) =>
        run.json.machines.find((m: { machineId: string }) => m.machineId === canaryId)?.status === 'failed',
      10_000,
    )
    expect(results.json.machines.find((m: { machineId: string }) => m.machineId === canaryId).error).toMatch(
      /ended while .* was on probation/,
    )
    const aborted = await fleet.cli('rollout', ['abort', '--timeout', '20s'])
    expect(aborted.code, describeRun(aborted)).toBe(0)
    const pointer = await pointerNow()
    expect(pointer.candidate).toBeNull()
    expect(pointer.hot?.upgradeId).toBe(stable.upgradeId)
    expect(pointer.badUpgrades).toContain(upgradeId)
    const canary = machines.find((m) => m.ready.machineId === canaryId)!
    expect((await getJson(canary, '/api/version')).body.version).toBe(stable.version)
    expect(failedRequests).toEqual([])
  }, 90_000)

  it('`relup status --watch --json` streams the fleet while a rollout runs: one document per change', async () => {
    const abort = new AbortController()
    const watch = runRelupCli(
      ['status', '--watch', '--interval', '200ms', '--app', APP, '--storage', backend.storageUrl, '--json'],
      { signal: abort.signal, timeoutMs: 30_000 },
    ).catch(() => null)
    try {
      const run = await fleet.publish('v2', { args: ['--rollout', '1,100%', '--health-window', '500ms'] })
      expect(run.code, describeRun(run)).toBe(0)
      await new Promise((resolve) => setTimeout(resolve, 500))
    } finally {
      abort.abort()
    }
    const watched = await watch
    const documents = (watched?.stdout ?? '')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(documents.length).toBeGreaterThanOrEqual(2)
    expect(documents.some((d) => d.rollout?.candidate?.version === 'v2')).toBe(true)
    expect(documents.at(-1).pointer.hot.version, watched?.stderr).toBe('v2')
  }, 60_000)
})
