// A rollout's candidate on a machine: on probation after its commit, watched through the engine's
// handles; healthy, it becomes the last good release; unhealthy, the machine reverts itself in
// process to the stable release (state kept), reports why with the figures, and never applies it again.
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import {
  parseMachineResult,
  readDocument,
  relupKeys,
  type Storage,
  withoutCandidate,
  writeDocument,
} from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import { readMarker } from '../src/index.js'
import {
  APP,
  type Machine,
  publishDirect,
  readPointer,
  startMachine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'

const keys = relupKeys(APP)

/** A release whose `handler.js` answers its version (to an HTTP response too, when it gets one). */
async function release(
  version: string,
  handler = `module.exports = (req, res) => { res?.end(${JSON.stringify(version)}); return ${JSON.stringify(version)} }`,
) {
  const dir = await writeRelease(await tempDir(), version, { extraFiles: { 'handler.js': handler } })
  return dir
}

const throwing = (version: string, every: number) =>
  `let n = 0\nmodule.exports = () => { if (++n % ${every} === 0) throw new Error('${version} broke'); return '${version}' }`

async function resultOf(storage: Storage, upgradeId: string) {
  const read = await readDocument(storage, keys.result(upgradeId, 'm1'), parseMachineResult)
  return read.status === 'ok' ? read.document : null
}

/** Calls through the handle as traffic would, swallowing the candidate's throws. */
function traffic(machine: Machine, everyMs = 5) {
  const handler = machine.engine.module('handler.js')
  let stopped = false
  const served: string[] = []
  const loop = async () => {
    while (!stopped) {
      try {
        served.push(handler())
      } catch {
        served.push('error')
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
  }
  void loop()
  return {
    served,
    stop: () => {
      stopped = true
    },
  }
}

async function stableMachine(storage: Storage, options: Parameters<typeof startMachine>[1] | object = {}) {
  const machine = await startMachine(storage, {
    baseDir: await release('base'),
    pollInterval: 20,
    ...(options as object),
  })
  await machine.counter() // the unit runs
  await publishDirect(storage, await release('v2'), { version: 'v2' })
  await waitForApplied(machine.relup, 'v2')
  return machine
}

describe('a candidate on probation', () => {
  it('healthy for its window: reported probation, then completed with the figures; it is the last good release', async () => {
    const storage = memoryStorage()
    const machine = await stableMachine(storage)
    const load = traffic(machine)
    const events: string[] = []
    machine.relup.on('probation:started', () => events.push('started'))
    machine.relup.on('probation:passed', () => events.push('passed'))
    const v3 = await publishDirect(storage, await release('v3'), {
      version: 'v3',
      candidate: { windowMs: 400 },
    })
    await waitFor(async () => (await resultOf(storage, v3.upgradeId))?.status === 'probation', 'probation')
    expect(await readMarker(machine.stateDir)).toMatchObject({ version: 'v3' })
    const done = await waitFor(async () => {
      const result = await resultOf(storage, v3.upgradeId)
      return result?.status === 'completed' && result
    }, 'the probation to pass')
    load.stop()
    expect(done.health).toMatchObject({ windowMs: 400, errors: 0, healthCheck: 'none', reasons: [] })
    expect(done.health!.calls).toBeGreaterThan(10)
    expect(done.health!.elapsedMs).toBeGreaterThanOrEqual(400)
    await waitFor(() => events.length === 2, 'the passed event (after the result and the pruning)')
    expect(events).toEqual(['started', 'passed'])
    expect(machine.engine.version).toBe('v3')
    expect(machine.relup.getState().lastUpgrade).toMatchObject({ version: 'v3', status: 'completed' })
  })

  it('throwing on some calls: reverts itself in process to the stable release (state kept), reports unhealthy, never applies it again', async () => {
    const storage = memoryStorage()
    const machine = await stableMachine(storage)
    const counter = machine.engine.unit('counter')
    await counter.increment()
    const load = traffic(machine)
    const v3 = await publishDirect(storage, await release('v3', throwing('v3', 5)), {
      version: 'v3',
      candidate: { windowMs: 5000 },
    })
    const failed = await waitFor(async () => {
      const result = await resultOf(storage, v3.upgradeId)
      return result?.status === 'failed' && result
    }, 'the candidate to be found unhealthy')
    expect(failed.error).toMatchObject({ code: 'ERR_RELUP_UNHEALTHY', phase: 'probation' })
    expect(failed.error!.message).toMatch(/calls threw or rejected/)
    expect(failed.health!.errors).toBeGreaterThanOrEqual(3)
    expect(failed.health!.elapsedMs).toBeLessThan(5000) // as soon as it was crossed, not at the window's end
    await waitFor(() => machine.engine.version === 'v2', 'the revert to v2')
    load.stop()
    // Units migrated back: the count survived v2 → v3 → v2.
    expect(await machine.counter()).toEqual({ version: 'v2', count: 1, migratedFrom: ['base', 'v2', 'v3'] })
    expect(await readMarker(machine.stateDir)).toMatchObject({ version: 'v2' })
    // The pointer still names it as the candidate: this machine does not apply it again.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(machine.engine.version).toBe('v2')
    expect((await readPointer(storage))?.pointer.candidate?.upgrade.upgradeId).toBe(v3.upgradeId)
  })

  it('answering 5xx without a throw (a framework catches the error) is caught the same way', async () => {
    const storage = memoryStorage()
    const machine = await stableMachine(storage)
    const handler = machine.engine.module('handler.js')
    const server = createServer((req, res) => handler(req, res))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    let stopped = false
    void (async () => {
      while (!stopped) {
        await fetch(`http://127.0.0.1:${port}/`)
          .then((r) => r.text())
          .catch(() => {})
      }
    })()
    const v3 = await publishDirect(
      storage,
      await release(
        'v3',
        `let n = 0\nmodule.exports = (req, res) => { try { if (++n % 4 === 0) throw new Error('x'); res.end('v3') } catch { res.statusCode = 500; res.end('oops') } }`,
      ),
      { version: 'v3', candidate: { windowMs: 5000 } },
    )
    const failed = await waitFor(async () => {
      const result = await resultOf(storage, v3.upgradeId)
      return result?.status === 'failed' && result
    }, 'the candidate to be found unhealthy')
    stopped = true
    await new Promise((resolve) => server.close(resolve))
    expect(failed.health!.errors).toBe(0)
    expect(failed.health!.serverErrors).toBeGreaterThanOrEqual(3)
    expect(failed.error!.message).toMatch(/responses were 5xx/)
    await waitFor(() => machine.engine.version === 'v2', 'the revert to v2')
  })

  it('slowing the event loop, or failing the app’s healthCheck(), is unhealthy too', {
    timeout: 20_000,
  }, async () => {
    const storage = memoryStorage()
    let checks = 0
    const machine = await stableMachine(storage, {
      healthCheck: ({ version }: { version: string }) => {
        checks++
        return version !== 'v4'
      },
    })
    const load = traffic(machine, 20)
    const slow = `module.exports = () => { const end = Date.now() + 400; while (Date.now() < end); return 'v3' }`
    const v3 = await publishDirect(storage, await release('v3', slow), {
      version: 'v3',
      candidate: { windowMs: 1500 },
    })
    const slowResult = await waitFor(
      async () => {
        const result = await resultOf(storage, v3.upgradeId)
        return result?.status === 'failed' && result
      },
      'the slow candidate to be found unhealthy',
      8000,
    )
    expect(slowResult.error!.message).toMatch(/event-loop delay p90/)
    expect(slowResult.health!.eventLoopDelayP90Ms).toBeGreaterThan(250)
    await waitFor(() => machine.engine.version === 'v2', 'the revert to v2')
    load.stop()

    const v4 = await publishDirect(storage, await release('v4'), {
      version: 'v4',
      candidate: { windowMs: 300 },
    })
    const checked = await waitFor(async () => {
      const result = await resultOf(storage, v4.upgradeId)
      return result?.status === 'failed' && result
    }, 'the check to fail')
    expect(checked.health).toMatchObject({ healthCheck: 'failed', reasons: ['healthCheck() returned false'] })
    expect(checks).toBe(1)
    await waitFor(() => machine.engine.version === 'v2', 'the revert to v2')
  })

  it('withdrawn by the publisher (the rollout halted): the machine goes back to stable, reported as halted', async () => {
    const storage = memoryStorage()
    const machine = await stableMachine(storage)
    const v3 = await publishDirect(storage, await release('v3'), {
      version: 'v3',
      candidate: { windowMs: 10_000 },
    })
    await waitFor(async () => (await resultOf(storage, v3.upgradeId))?.status === 'probation', 'probation')
    const current = (await readPointer(storage))!
    await writeDocument(
      storage,
      keys.current,
      withoutCandidate(current.pointer, { bad: true }, { setBy: 'test' }),
      {
        ifMatch: current.etag,
      },
    )
    await waitFor(() => machine.engine.version === 'v2', 'the revert to v2')
    expect(await resultOf(storage, v3.upgradeId)).toMatchObject({
      status: 'failed',
      error: { code: 'ERR_RELUP_ROLLOUT_HALTED' },
    })
  })

  it('a process that died on probation: its next start refuses the candidate, boots stable and reports it failed', async () => {
    const storage = memoryStorage()
    const first = await stableMachine(storage)
    const started = new Promise((resolve) => first.relup.once('probation:started', resolve))
    const v3 = await publishDirect(storage, await release('v3'), {
      version: 'v3',
      candidate: { windowMs: 60_000 },
    })
    await started // probation.json is written
    // What a crash leaves: the probation record and the candidate's marker (a graceful stop clears them).
    const probationFile = await import('node:fs/promises').then((fs) =>
      fs.readFile(join(first.stateDir, 'probation.json'), 'utf8'),
    )
    const marker = await readMarker(first.stateDir)
    await first.relup.stop()
    await first.engine.close()
    await writeFile(join(first.stateDir, 'probation.json'), probationFile)
    await writeFile(join(first.stateDir, 'marker.json'), JSON.stringify(marker))

    const second = await startMachine(storage, {
      baseDir: await release('base'),
      stateDir: first.stateDir,
      pollInterval: 20,
    })
    expect(second.engine.version).toBe('v2')
    expect(await resultOf(storage, v3.upgradeId)).toMatchObject({
      status: 'failed',
      error: { code: 'ERR_RELUP_UNHEALTHY', phase: 'probation' },
    })
    expect((await resultOf(storage, v3.upgradeId))!.error!.message).toMatch(/ended while v3 was on probation/)
  })
})
