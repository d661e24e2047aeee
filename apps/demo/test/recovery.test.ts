/**
 * A fleet that always recovers, end to end: three demo servers (real processes) and the real
 * `relup` binary, on the filesystem storage and on a real S3-compatible server, taken through what
 * goes wrong on a real fleet: a pointer deleted and re-created, a pointer overwritten with garbage,
 * an upgrade that fails and a machine restarted after it, an artifact corrupted in storage, a
 * machine killed without a goodbye, a rollback to the base code, a server that cannot listen (the
 * steps share the machines and run in order); and a machine booted while storage is unreachable.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join, relative } from 'node:path'
import { parseMachineRecord, parseMachineResult, readDocument, relupKeys } from '@relup/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DemoServer, startDemoServer } from '../src/demoProcess.js'
import { hotDir, repoDir } from '../src/paths.js'
import type { CliRun } from '../src/relupCli.js'
import { type FleetBackend, fileBackend, s3Backend } from './fleet/backends.js'
import { APP, Fleet, until } from './fleet/fleet.js'
import { describeRun, getJson, increment } from './helpers.js'

const BASE = 'img-r'
const MACHINES = ['rec-1', 'rec-2', 'rec-3']
const keys = relupKeys(APP)

const outcomes = (run: CliRun) =>
  (run.json?.machines ?? []).map((m: { machineId: string; status: string }) => [m.machineId, m.status])

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const taken = await portInUse()
  await taken.close()
  return taken.port
}

/** A port something else listens on. */
async function portInUse(): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { port: address.port, close: () => new Promise((done) => server.close(() => done())) }
}

describe.each([fileBackend, s3Backend])('a fleet that recovers, on $name', (kind) => {
  let backend: FleetBackend
  let fleet: Fleet
  let machines: DemoServer[] = []
  const artifacts: Record<string, string> = {}

  const versionsOf = () =>
    Promise.all(machines.map(async (s) => (await getJson(s, '/api/version')).body.version))
  const explain = (...runs: CliRun[]) => `${runs.map(describeRun).join('\n')}\n${fleet.logs()}`
  async function record(machineId: string) {
    const read = await readDocument(backend.storage, keys.machine(machineId), parseMachineRecord)
    return read.status === 'ok' ? read.document : null
  }
  async function publish(version: string, dir?: string) {
    const run = await fleet.publish(version, dir === undefined ? {} : { dir })
    if (run.json?.artifact?.key) artifacts[version] = run.json.artifact.key
    return run
  }
  async function restart(index: number): Promise<DemoServer> {
    await machines[index]!.stop(5000)
    machines[index] = await fleet.start(MACHINES[index]!, BASE)
    return machines[index]!
  }

  beforeAll(async () => {
    backend = await kind.open()
    fleet = await Fleet.create(backend)
    machines = await fleet.startAll(MACHINES, BASE)
  })
  afterAll(async () => {
    try {
      await fleet?.cleanUp()
    } finally {
      await backend?.close()
    }
  })

  it('a pointer deleted and re-created by a restarting machine is followed by the whole fleet', async () => {
    const v2 = await publish('v2')
    expect(v2.code, explain(v2)).toBe(0)
    expect(await versionsOf()).toEqual(['v2', 'v2', 'v2'])
    await backend.storage.delete(keys.current)
    // rec-1 restarts: no pointer, so it writes a new first one (seq 1, a new lineage, base code).
    const restarted = await restart(0)
    expect(restarted.ready.version).toBe('v1')
    // The others follow the new pointer instead of ignoring it as a stale read.
    const v3 = await publish('v3')
    expect(v3.code, explain(v3)).toBe(0)
    expect(outcomes(v3)).toEqual(MACHINES.map((id) => [id, 'completed']))
    expect(await versionsOf()).toEqual(['v3', 'v3', 'v3'])
  })

  it('a corrupt pointer: machines keep serving, status says how to repair it, relup repair does', async () => {
    await increment(machines[1]!)
    await backend.storage.put(keys.current, 'garbage{{{ not json')
    await new Promise((resolve) => setTimeout(resolve, 500)) // a few polls
    expect(await versionsOf()).toEqual(['v3', 'v3', 'v3'])
    const status = await fleet.cli('status', [])
    expect(status.code, explain(status)).toBe(1)
    expect(`${status.stdout}${status.stderr}`).toMatch(/relup repair --app demo/)
    const publishOnCorrupt = await publish('v2')
    expect(publishOnCorrupt.code, explain(publishOnCorrupt)).toBe(1)
    expect(`${publishOnCorrupt.stdout}${publishOnCorrupt.stderr}`).toMatch(/relup repair --app demo/)

    const repair = await fleet.cli('repair', [])
    expect(repair.code, explain(repair)).toBe(0)
    // The repaired pointer names what the machines run: nothing changes for them.
    expect(await versionsOf()).toEqual(['v3', 'v3', 'v3'])
    const v2 = await publish('v2')
    expect(v2.code, explain(v2)).toBe(0)
    expect(outcomes(v2)).toEqual(MACHINES.map((id) => [id, 'completed']))
    expect((await getJson(machines[1]!, '/api/counter')).body).toMatchObject({ version: 'v2' })
  })

  it('a restart after a failed upgrade boots the last good release, not the base code', async () => {
    // v4 = v3 with a page.js that refuses to load: every machine fails it and keeps v2.
    const broken = join(fleet.dir, 'v4-broken')
    await cp(hotDir('v3'), broken, { recursive: true })
    const page = join(broken, 'page.js')
    await writeFile(page, `throw new Error('page.js of v4 refuses to load')\n${await readFile(page, 'utf8')}`)
    const v4 = await publish('v4', broken)
    expect(v4.code, explain(v4)).toBe(1)
    expect(outcomes(v4)).toEqual(MACHINES.map((id) => [id, 'failed']))
    expect(await versionsOf()).toEqual(['v2', 'v2', 'v2'])

    const restarted = await restart(1)
    expect(restarted.ready.version, fleet.logs()).toBe('v2')
    expect((await getJson(restarted, '/api/hello')).body).toEqual({ hello: 'from v2' })
    expect(await record('rec-2')).toMatchObject({ version: 'v2' })
    const v4Result = await readDocument(
      backend.storage,
      keys.result(v4.json.upgradeId, 'rec-2'),
      parseMachineResult,
    )
    expect(v4Result.status === 'ok' && v4Result.document.status).toBe('failed')
  })

  it('an artifact corrupted in storage is refused by rollback and replaced by the next publish of it', async () => {
    const key = artifacts.v3!
    expect(key).toBeDefined()
    await backend.storage.put(key, 'not the artifact any more')
    const rollback = await fleet.cli('rollback', ['--to', 'v3', '--timeout', '15s'])
    expect(rollback.code, explain(rollback)).toBe(1)
    expect(`${rollback.stdout}${rollback.stderr}`).toMatch(/publish v3 again/i)

    const v3 = await publish('v3')
    expect(v3.code, explain(v3)).toBe(0)
    expect(v3.json.warnings.join('\n')).toMatch(/corrupt/i)
    expect(outcomes(v3)).toEqual(MACHINES.map((id) => [id, 'completed']))
    expect(await versionsOf()).toEqual(['v3', 'v3', 'v3'])
  })

  it('a machine killed without a goodbye is counted absent within its grace, and the publish ends', async () => {
    machines[2]!.child.kill('SIGKILL')
    await machines[2]!.exited
    const started = performance.now()
    const dir = relative(repoDir, hotDir('v2'))
    const run = await fleet.cli('publish', [
      dir,
      '--version',
      'v2',
      '--ack-timeout',
      '2s',
      '--timeout',
      '60s',
    ])
    const seconds = (performance.now() - started) / 1000
    expect(run.code, explain(run)).toBe(0)
    expect(outcomes(run)).toEqual([
      ['rec-1', 'completed'],
      ['rec-2', 'completed'],
      ['rec-3', 'absent'],
    ])
    expect(seconds).toBeLessThan(30)
    machines[2] = await fleet.start('rec-3', BASE)
    expect(machines[2].ready.version).toBe('v2')
  })

  it('rollback --to base brings every running machine back to the base code, its counter kept', async () => {
    const before = (await increment(machines[0]!)).count
    const run = await fleet.cli('rollback', ['--to', 'base', '--timeout', '15s'])
    expect(run.code, explain(run)).toBe(0)
    expect(await versionsOf()).toEqual(['v1', 'v1', 'v1'])
    expect((await getJson(machines[0]!, '/api/counter')).body).toMatchObject({ count: before, version: 'v1' })
  })

  it('a server that cannot listen stops its runtime: its record says it stopped, and it exits non-zero', async () => {
    const taken = await portInUse()
    try {
      const start = startDemoServer({
        env: { ...fleet.machineEnv('rec-noport', BASE), PORT: String(taken.port) },
        timeoutMs: 20_000,
      })
      await expect(start).rejects.toThrow(/exited \(code [1-9]\d*\) before it was ready/)
      const stopped = await until(
        () => record('rec-noport'),
        (r) => typeof r?.stoppedAt === 'string',
      )
      expect(stopped?.stoppedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    } finally {
      await taken.close()
    }
  })
})

// The filesystem storage has no outage to simulate (a directory is there or it is a configuration
// error); an S3 endpoint that does not answer is the real case.
describe('a machine booted while S3 storage is unreachable', () => {
  let backend: FleetBackend
  let fleet: Fleet
  beforeAll(async () => {
    backend = await s3Backend.open()
    fleet = await Fleet.create(backend)
  })
  afterAll(async () => {
    try {
      await fleet?.cleanUp()
    } finally {
      await backend?.close()
    }
  })

  it('waits out its startup timeout (never a silent exit), then serves its code and keeps running', async () => {
    const started = performance.now()
    const machine = await fleet.start('rec-outage', BASE, {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await closedPort()}`,
      RELUP_STARTUP_TIMEOUT: '1500',
    })
    expect(performance.now() - started).toBeGreaterThanOrEqual(1500)
    expect(machine.ready.version).toBe('v1')
    expect((await getJson(machine, '/api/version')).body).toMatchObject({ version: 'v1' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(machine.child.exitCode).toBeNull()
    expect(machine.log()).toMatch(/could not finish \(storage did not answer\)/)
  })
})
