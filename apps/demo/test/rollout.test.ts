/**
 * Staged rollouts end to end: six demo servers (real processes) under steady traffic and the real
 * `relup` binary on the filesystem storage. A good release goes out wave by wave, each wave only
 * adding machines; a release that throws on half of one route reaches the canary only, which
 * reverts itself in process; the publisher halts, the pointer goes back to stable, exit 1.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseCurrentPointer, readDocument, relupKeys } from '@relup/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoServer } from '../src/demoProcess.js'
import { hotDir } from '../src/paths.js'
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

  /** Every machine gets GET /api/hello about every 10 ms; answers other than 200/404 are counted. */
  function load() {
    let stopped = false
    const loops = machines.map(async (server) => {
      while (!stopped) {
        const response = await fetch(`${server.url}/api/hello`).catch(() => null)
        if (response === null) failedRequests.push(`${server.ready.machineId}: no answer`)
        else await response.arrayBuffer()
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
})
