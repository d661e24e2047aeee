import { parseMachineRecord, readDocument, relupKeys } from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it, vi } from 'vitest'
import { Relup, silentLogger } from '../src/index.js'
import { APP, spyStorage, startMachine, stubEngine, tempDir, writeRelease } from './helpers.js'

const keys = relupKeys(APP)

describe('stop()', () => {
  it('leaves no timer behind, stops polling and marks the machine stopped', async () => {
    const storage = memoryStorage()
    const baseDir = await writeRelease(await tempDir(), 'base')
    // Every timer created while the runtime lives; Node marks a Timeout destroyed once it fired or was cleared.
    const created: NodeJS.Timeout[] = []
    const real = globalThis.setTimeout
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((...args: Parameters<typeof real>) => {
      const timer = real(...args)
      created.push(timer)
      return timer
    }) as typeof real)
    try {
      const machine = await startMachine(storage, { baseDir, pollInterval: 20 })
      await new Promise((resolve) => real(resolve, 100))
      const pending = () => created.filter((t) => !(t as unknown as { _destroyed: boolean })._destroyed)
      expect(pending().length).toBeGreaterThan(0)
      expect(machine.relup.getState().nextPoll).toBeInstanceOf(Date)
      await machine.relup.stop()
      expect(pending()).toEqual([])
      expect(machine.relup.getState()).toMatchObject({ mode: 'stopped', nextPoll: null })
      const record = await readDocument(storage, keys.machine('m1'), parseMachineRecord)
      expect(record.status === 'ok' && record.document.stoppedAt).toMatch(/^\d{4}-/)
      const lastCheck = machine.relup.getState().lastCheck
      await new Promise((resolve) => real(resolve, 100))
      expect(machine.relup.getState().lastCheck).toEqual(lastCheck)
    } finally {
      spy.mockRestore()
    }
  })

  it('a checkNow() waiting for the poll in flight does not poll again after stop()', async () => {
    const spy = spyStorage(memoryStorage(), { readLatencyMs: 5 })
    // No timer-driven poll during the test, and every poll refreshes the machine record.
    const machine = await startMachine(spy.storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      pollInterval: 60_000,
      heartbeatInterval: 1,
    })
    const readsBefore = spy.gets(keys.current).length
    const held = spy.hold(keys.current)
    const inFlight = machine.relup.checkNow()
    await held.reached
    const waiting = machine.relup.checkNow()
    let writesWhenStopped: number | null = null
    const stopped = machine.relup.stop().then(() => {
      writesWhenStopped = spy.writes()
    })
    held.release()
    await Promise.all([inFlight, waiting, stopped])

    const record = await readDocument(spy.storage, keys.machine('m1'), parseMachineRecord)
    expect(record.status === 'ok' && record.document.stoppedAt).toMatch(/^\d{4}-/)
    expect(spy.writes()).toBe(writesWhenStopped)
    // The pointer was read once: by the poll that was in flight, not again for the waiting checkNow().
    expect(spy.gets(keys.current).length).toBe(readsBefore + 1)
    expect(machine.relup.getState()).toMatchObject({ mode: 'stopped', nextPoll: null })
  })

  it('stop() during the startup replay wins: start() resolves, nothing polls, the machine is stopped', async () => {
    const spy = spyStorage(memoryStorage())
    const relup = new Relup({
      app: APP,
      storage: spy.storage,
      engine: stubEngine(),
      baseRef: 'image-1',
      machineId: 'm1',
      stateDir: await tempDir('state'),
      pollInterval: 10,
      logger: silentLogger,
    })
    const held = spy.hold(keys.current)
    const started = relup.start()
    await held.reached
    const stopped = relup.stop()
    held.release()
    await Promise.all([started, stopped])

    const reads = spy.gets(keys.current).length
    const record = await readDocument(spy.storage, keys.machine('m1'), parseMachineRecord)
    expect(record.status === 'ok' && record.document.stoppedAt).toMatch(/^\d{4}-/)
    expect(relup.getState()).toMatchObject({ mode: 'stopped', nextPoll: null })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(spy.gets(keys.current).length).toBe(reads)
  })
})
