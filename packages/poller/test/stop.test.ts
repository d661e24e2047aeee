import { parseMachineRecord, readDocument, relupKeys } from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it, vi } from 'vitest'
import { APP, startMachine, tempDir, writeRelease } from './helpers.js'

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
      const record = await readDocument(storage, relupKeys(APP).machine('m1'), parseMachineRecord)
      expect(record.status === 'ok' && record.document.stoppedAt).toMatch(/^\d{4}-/)
      const lastCheck = machine.relup.getState().lastCheck
      await new Promise((resolve) => real(resolve, 100))
      expect(machine.relup.getState().lastCheck).toEqual(lastCheck)
    } finally {
      spy.mockRestore()
    }
  })
})
