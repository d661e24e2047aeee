/**
 * The fleet, end to end: three demo servers (real processes, each its own machine id and state
 * directory, polling every 150 ms) and the real `relup` binary, on the filesystem storage and on a
 * real S3-compatible server. One scenario per backend; its steps share the machines and run in
 * order, each step starting from where the previous one left the fleet.
 *
 * The pointer's history is set up the way a cold deploy leaves it: a machine of base `img-1`
 * boots first (it writes the pointer), then the fleet boots on `img-2` (a cold deploy: the pointer
 * moves to `img-2` and remembers `img-1` as a previous base). The `img-1` machine keeps running
 * as an older generation, and a second one starts later.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fingerprint, relupKeys } from '@relup/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoServer } from '../src/demoProcess.js'
import { hotDir } from '../src/paths.js'
import type { CliRun } from '../src/relupCli.js'
import { type FleetBackend, fileBackend, s3Backend } from './fleet/backends.js'
import { APP, Fleet, until } from './fleet/fleet.js'
import { describeRun, getJson, increment } from './helpers.js'

const OLD_BASE = 'img-1'
const BASE = 'img-2'
const FLEET = ['fleet-1', 'fleet-2', 'fleet-3']

type Status = {
  pointer: any
  expectedFingerprint: string
  lock: unknown
  machines: { machineId: string; state: string; version: string | null; fingerprint: string }[]
}

const stateOf = (status: Status) => Object.fromEntries(status.machines.map((m) => [m.machineId, m.state]))
const recordOf = (status: Status, machineId: string) => status.machines.find((m) => m.machineId === machineId)
const outcomes = (run: CliRun) =>
  (run.json?.machines ?? []).map((m: { machineId: string; status: string }) => [m.machineId, m.status])

describe.each([fileBackend, s3Backend])('a fleet of three machines on $name', (kind) => {
  let backend: FleetBackend | undefined
  let fleet: Fleet | undefined
  let machines: DemoServer[] = []
  let olderMachine: DemoServer
  /** What each fleet machine's counter must read: every step adds to it, no step may lose it. */
  const counts = FLEET.map(() => 0)
  const published: Record<string, string> = {}

  /** Machine i counts i + 1 times (different numbers, so that a mixed-up counter shows). */
  async function countOnEveryMachine(): Promise<void> {
    await Promise.all(
      machines.map(async (server, i) => {
        for (let n = 0; n <= i; n++) {
          const answer = await increment(server)
          counts[i]! += 1
          expect(answer.count).toBe(counts[i])
        }
      }),
    )
  }
  const versionsOf = async (servers: DemoServer[]) =>
    Promise.all(servers.map(async (s) => (await getJson(s, '/api/version')).body.version))
  const countersOf = async (servers: DemoServer[]) =>
    Promise.all(
      servers.map(async (s) => {
        const { count, version } = (await getJson(s, '/api/counter')).body
        return { count, version }
      }),
    )
  /** Status once every machine record caught up with its result (the record is written just after it). */
  const settledStatus = (machineIds: string[], state: (id: string) => string) =>
    until(
      () => fleet!.status() as Promise<Status>,
      (s) => machineIds.every((id) => recordOf(s, id)?.state === state(id)),
    )
  const explain = (...runs: CliRun[]) => `${runs.map(describeRun).join('\n')}\n${fleet!.logs()}`

  beforeAll(async () => {
    backend = await kind.open()
    fleet = await Fleet.create(backend)
    olderMachine = await fleet.start('old-1', OLD_BASE)
    machines = await fleet.startAll(FLEET, BASE)
  })
  afterAll(async () => {
    try {
      await fleet?.cleanUp()
    } finally {
      await backend?.close()
    }
  })

  it('boots on a new base: the pointer moves to img-2 and remembers img-1 as a previous base', async () => {
    expect(olderMachine.ready).toMatchObject({ version: 'v1', fingerprint: fingerprint(OLD_BASE, null) })
    for (const server of machines)
      expect(server.ready).toMatchObject({ version: 'v1', fingerprint: fingerprint(BASE, null) })
    const status = (await fleet!.status()) as Status
    expect(status.pointer).toMatchObject({ baseRef: BASE, previousBases: [OLD_BASE], hot: null })
    expect(stateOf(status)).toEqual({
      'fleet-1': 'current',
      'fleet-2': 'current',
      'fleet-3': 'current',
      'old-1': 'older base',
    })
  })

  it('publish v2 --expect 3 exits 0 once all three completed; counters kept; status shows them current', async () => {
    await countOnEveryMachine()
    const run = await fleet!.publish('v2', { expect: 3 })
    expect(run.code, explain(run)).toBe(0)
    expect(run.json).toMatchObject({ ok: true, version: 'v2', baseRef: BASE, missing: 0 })
    expect(outcomes(run)).toEqual(FLEET.map((id) => [id, 'completed']))
    published.v2 = run.json.upgradeId

    expect(await versionsOf(machines)).toEqual(['v2', 'v2', 'v2'])
    expect(await countersOf(machines)).toEqual(counts.map((count) => ({ count, version: 'v2' })))
    expect((await getJson(machines[0]!, '/api/hello')).body).toEqual({ hello: 'from v2' })

    const status = await settledStatus(FLEET, () => 'current')
    expect(status.pointer.hot).toMatchObject({ version: 'v2', upgradeId: published.v2 })
    expect(status.expectedFingerprint).not.toBe(fingerprint(BASE, null))
    for (const [i, id] of FLEET.entries()) {
      expect(recordOf(status, id)).toMatchObject({
        state: 'current',
        version: 'v2',
        upgradeId: published.v2,
        fingerprint: status.expectedFingerprint,
      })
      expect((await getJson(machines[i]!, '/api/version')).body.fingerprint).toBe(status.expectedFingerprint)
    }
  })

  it('publish v3 without --expect waits for the machines on its base (from their records), not the older one', async () => {
    await countOnEveryMachine()
    const run = await fleet!.publish('v3')
    expect(run.code, explain(run)).toBe(0)
    expect(outcomes(run)).toEqual(FLEET.map((id) => [id, 'completed']))
    // v3 changes counter.js, page.js and router.js: only those reload.
    expect(run.json.machines.map((m: { modulesReloaded: number }) => m.modulesReloaded)).toEqual([3, 3, 3])
    published.v3 = run.json.upgradeId

    expect(await versionsOf(machines)).toEqual(['v3', 'v3', 'v3'])
    expect(await countersOf(machines)).toEqual(counts.map((count) => ({ count, version: 'v3' })))
    // The state changed shape on every machine, and each kept its own number.
    for (const [i, server] of machines.entries())
      expect((await getJson(server, '/api/state')).body.units.counter).toEqual({
        value: counts[i],
        changedAt: null,
      })
  })

  it('a machine started after the publish replays it before it serves: ready on v3, first answer v3', async () => {
    const late = await fleet!.start('late-4', BASE)
    const status = (await fleet!.status()) as Status
    expect(late.ready).toMatchObject({ version: 'v3', fingerprint: status.expectedFingerprint })
    const first = (await getJson(late, '/api/version')).body
    expect(first).toMatchObject({
      version: 'v3',
      upgradeId: published.v3,
      fingerprint: late.ready.fingerprint,
    })
    expect(first.history.map((h: { version: string }) => h.version)).toEqual(['v3'])
    expect((await getJson(late, '/api/hello')).body).toEqual({ hello: 'from v2' })
    expect(await fleet!.results()).toContainEqual({ upgradeId: published.v3, machineId: 'late-4' })

    // It leaves cleanly, so that later publishes do not wait for it.
    expect(await late.stop()).toBe(0)
    expect(stateOf((await fleet!.status()) as Status)['late-4']).toBe('stopped')
  })

  it('a machine of an older base (img-1) skips the upgrade: boots on v1 and leaves the pointer alone', async () => {
    const before = ((await fleet!.status()) as Status).pointer
    const older = await fleet!.start('old-2', OLD_BASE)
    expect(older.ready).toMatchObject({ version: 'v1', fingerprint: fingerprint(OLD_BASE, null) })
    expect((await getJson(older, '/api/version')).body).toMatchObject({
      version: 'v1',
      baseRef: OLD_BASE,
      upgradeId: null,
      history: [],
    })
    expect((await getJson(older, '/api/hello')).status).toBe(404)

    const status = (await fleet!.status()) as Status
    // Not reset backwards: same base, same hot upgrade, same seq.
    expect(status.pointer).toEqual(before)
    expect(status.pointer.baseRef).toBe(BASE)
    expect(stateOf(status)).toMatchObject({ 'old-1': 'older base', 'old-2': 'older base' })
  })

  it('rollback --to v2 brings all three back to v2 with their counters; the older machines wrote no result', async () => {
    await countOnEveryMachine()
    const run = await fleet!.cli('rollback', ['--to', 'v2', '--expect', '3', '--timeout', '15s'])
    expect(run.code, explain(run)).toBe(0)
    expect(run.json).toMatchObject({ ok: true, version: 'v2', artifactReused: true })
    expect(run.json.upgradeId).not.toBe(published.v2)
    expect(outcomes(run)).toEqual(FLEET.map((id) => [id, 'completed']))
    published.rollback = run.json.upgradeId

    expect(await versionsOf(machines)).toEqual(['v2', 'v2', 'v2'])
    expect(await countersOf(machines)).toEqual(counts.map((count) => ({ count, version: 'v2' })))
    for (const [i, server] of machines.entries())
      expect((await getJson(server, '/api/state')).body.units.counter).toEqual({ count: counts[i] })
    const status = await settledStatus(FLEET, () => 'current')
    expect(status.pointer.hot).toMatchObject({ version: 'v2', upgradeId: published.rollback })

    // Both img-1 machines polled through the rollback (and old-1 through every publish): still v1,
    // and not one result of theirs under any upgrade.
    const older = fleet!.running().filter((s) => s.ready.machineId.startsWith('old-'))
    expect(older).toHaveLength(2)
    expect(await versionsOf(older)).toEqual(['v1', 'v1'])
    const results = await fleet!.results()
    expect(results.filter((r) => r.machineId.startsWith('old-'))).toEqual([])
    expect(results.filter((r) => r.upgradeId === published.rollback).map((r) => r.machineId)).toEqual(FLEET)
  })

  it('a publish started while another holds the lock exits 3 and names the holder; the first proceeds', async () => {
    // The first holds the lock while it waits for the fleet: one machine is paused (SIGSTOP) until
    // the second has given up, so the two always meet at the lock (the create-only race of two
    // publishers taking it at the same instant is tested in @relup/publisher).
    const paused = machines[2]!
    paused.child.kill('SIGSTOP')
    let first: Promise<CliRun>
    let b: CliRun
    try {
      first = fleet!.publish('v3', { expect: 3, env: { RELUP_PUBLISHER: 'ci-a' } })
      await until(
        async () => (await backend!.storage.get(relupKeys(APP).lock)).status === 'ok',
        (held) => held,
        15_000,
        5,
      )
      b = await fleet!.publish('v3', { expect: 3, env: { RELUP_PUBLISHER: 'ci-b' } })
    } finally {
      paused.child.kill('SIGCONT')
    }
    const a = await first
    expect([a.code, b.code].sort(), explain(a, b)).toEqual([0, 3])
    const [winner, loser, holder] = a.code === 0 ? [a, b, 'ci-a'] : [b, a, 'ci-b']
    expect(loser.json).toEqual({
      ok: false,
      error: expect.stringMatching(
        new RegExp(`lock of demo is held by ${holder}@\\S+ since .*\\(publish v3\\)`),
      ),
    })
    expect(outcomes(winner)).toEqual(FLEET.map((id) => [id, 'completed']))
    expect(await versionsOf(machines)).toEqual(['v3', 'v3', 'v3'])
    const status = (await fleet!.status()) as Status
    expect(status.pointer.hot.upgradeId).toBe(winner.json.upgradeId)
    expect(status.lock).toBeNull()
  })

  it('a machine that fails the upgrade keeps serving the old version and its counter; publish exits 1 naming it', async () => {
    await countOnEveryMachine()
    // v4 = v3 with a page.js that throws at top level, on fleet-2 only.
    const broken = join(fleet!.dir, 'v4-throws-on-fleet-2')
    await cp(hotDir('v3'), broken, { recursive: true })
    const page = join(broken, 'page.js')
    await writeFile(
      page,
      "if (process.env.RELUP_MACHINE_ID === 'fleet-2') throw new Error('page.js refuses to load on fleet-2')\n" +
        (await readFile(page, 'utf8')),
    )
    const run = await fleet!.publish('v4', { dir: broken, expect: 3 })
    expect(run.code, explain(run)).toBe(1)
    expect(run.json).toMatchObject({ ok: false, version: 'v4', missing: 0 })
    expect(run.json.machines).toEqual([
      expect.objectContaining({ machineId: 'fleet-1', status: 'completed', error: null }),
      expect.objectContaining({
        machineId: 'fleet-2',
        status: 'failed',
        error: expect.stringContaining('page.js refuses to load on fleet-2'),
      }),
      expect.objectContaining({ machineId: 'fleet-3', status: 'completed', error: null }),
    ])

    // fleet-2 rolled back inside its process: v3, its counter, and it still counts.
    expect(await versionsOf(machines)).toEqual(['v4', 'v3', 'v4'])
    expect(await countersOf(machines)).toEqual([
      { count: counts[0], version: 'v4' },
      { count: counts[1], version: 'v3' },
      { count: counts[2], version: 'v4' },
    ])
    const failed = (await getJson(machines[1]!, '/api/version')).body
    expect(failed.history.map((h: { version: string }) => h.version)).not.toContain('v4')
    expect(await increment(machines[1]!)).toMatchObject({ count: counts[1]! + 1, countedBy: 'v3' })
    counts[1]! += 1

    const status = await settledStatus(FLEET, (id) => (id === 'fleet-2' ? 'failed' : 'current'))
    expect(stateOf(status)).toMatchObject({ 'fleet-1': 'current', 'fleet-2': 'failed', 'fleet-3': 'current' })
  })
})
