import { faultyStorage } from '@relup/storage-conformance'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import {
  publishDirect,
  readPointer,
  startMachine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'

describe('storage faults', () => {
  it('an outage: no crash, polls back off, the code keeps serving, and it recovers by itself', async () => {
    const storage = faultyStorage(memoryStorage(), { seed: 3 })
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      pollInterval: 40,
      maxPollBackoff: 320,
    })
    const counter = machine.engine.unit('counter')
    await counter.increment()
    const errors: number[] = []
    machine.relup.on('poll:error', ({ consecutiveFailures }) => errors.push(consecutiveFailures))
    let recoveredAfter: number | null = null
    machine.relup.on('storage:recovered', ({ downMs }) => {
      recoveredAfter = downMs
    })

    const getsBefore = storage.stats.byOperation.get
    storage.faults.failRate = 1
    const outageMs = 2000
    await new Promise((resolve) => setTimeout(resolve, outageMs))
    const pollsDuringOutage = storage.stats.byOperation.get - getsBefore
    // At a steady 40 ms that would be ~50 polls; backing off to 320 ms leaves far fewer.
    expect(pollsDuringOutage).toBeGreaterThan(3)
    expect(pollsDuringOutage).toBeLessThan(20)
    expect(errors.at(-1)).toBe(errors.length)
    // The app keeps serving the code it has.
    expect(await counter.increment()).toBe(2)

    // Storage comes back, with an upgrade waiting: recovery within one (backed-off) poll interval.
    storage.faults.failRate = 0
    const back = Date.now()
    await publishDirect(storage.inner, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitFor(() => recoveredAfter !== null, 'recovery', 2000)
    expect(Date.now() - back).toBeLessThanOrEqual(320 + 400)
    await waitForApplied(machine.relup, 'v2')
    expect(await machine.counter()).toMatchObject({ count: 2, version: 'v2' })
    expect(machine.relup.getState().consecutiveFailures).toBe(0)
  })

  it('flaky downloads and result writes (half of them fail) still converge, with retries', async () => {
    const storage = faultyStorage(memoryStorage(), { seed: 2 })
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      pollInterval: 30,
      retryBaseDelay: 50,
      maxPollBackoff: 200,
    })
    storage.faults.failRate = 0.5
    storage.faults.operations = ['getStream', 'put']
    await publishDirect(storage.inner, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(machine.relup, 'v2', 10_000)
    expect(storage.stats.failures).toBeGreaterThan(0)
    expect(await machine.counter()).toMatchObject({ version: 'v2' })
  })

  it('startup waits out a short outage, then boots on base code and keeps trying when it lasts', async () => {
    const storage = faultyStorage(memoryStorage(), { failRate: 1 })
    const started = Date.now()
    const machine = await startMachine(storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      startupTimeout: 600,
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(550)
    expect(machine.engine.version).toBe('base')
    storage.faults.failRate = 0
    // Once storage is back, the machine does what its startup could not: write the first pointer.
    await waitFor(() => machine.relup.getState().etag, 'a successful poll', 3000)
    expect((await readPointer(storage.inner))?.pointer).toMatchObject({ baseRef: 'image-1', seq: 1 })
  })

  it('onStartupFailure "throw" rejects instead of booting on base code', async () => {
    const storage = faultyStorage(memoryStorage(), { failRate: 1 })
    await expect(
      startMachine(storage, {
        baseDir: await writeRelease(await tempDir(), 'base'),
        startupTimeout: 200,
        onStartupFailure: 'throw',
      }),
    ).rejects.toMatchObject({ code: 'ERR_RELUP_STARTUP' })
  })
})
