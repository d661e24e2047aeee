// Item 5 and item 12's runtime part: a failed upgrade is retried a bounded number of times; a new
// upgrade is acknowledged within about one poll interval whatever an earlier one is doing; and an
// idle machine costs what it always cost (a conditional GET per poll, no writes between heartbeats).
import { ConfigError, parseMachineRecord, readDocument, relupKeys } from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import { resolveOptions } from '../src/options.js'
import {
  APP,
  engineStats,
  publishDirect,
  spyStorage,
  startRuntime,
  stubEngine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'
import { machineResult } from './processes.js'

const keys = relupKeys(APP)

describe('bounded retries', () => {
  it('a failed upgrade is tried maxAttempts times with backoff, then left failed until something new is published', async () => {
    const storage = memoryStorage()
    let broken = true
    const engine = stubEngine(async () => {
      if (broken) throw new Error('the new release does not load')
      return engineStats()
    })
    const relup = await startRuntime(storage, {
      engine,
      pollInterval: 10,
      retryBaseDelay: 20,
      retryMaxDelay: 40,
      maxAttempts: 3,
    })
    const failures: { attempt: number; retryInMs: number | null }[] = []
    relup.on('upgrade:failed', ({ attempt, retryInMs }) => failures.push({ attempt, retryInMs }))
    const v2 = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitFor(() => failures.length === 3, 'three attempts')
    // Well past the longest backoff: no fourth attempt.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(engine.calls).toHaveLength(3)
    expect(failures.map((f) => f.attempt)).toEqual([1, 2, 3])
    expect(failures[2]?.retryInMs).toBeNull()
    expect(failures.slice(0, 2).every((f) => typeof f.retryInMs === 'number')).toBe(true)
    expect(relup.getState()).toMatchObject({ upgradeFailures: 3, nextRetry: null })
    expect(await machineResult(storage, v2.upgradeId, 'm1')).toMatchObject({ status: 'failed', attempt: 3 })

    broken = false
    await publishDirect(storage, await writeRelease(await tempDir(), 'v3'), { version: 'v3' })
    await waitForApplied(relup, 'v3')
    expect(engine.calls).toHaveLength(4)
  })

  it('defaults to 5 attempts, and refuses a count that is not a whole number of at least 1', () => {
    const base = { app: APP, storage: memoryStorage(), engine: stubEngine() }
    expect(resolveOptions(base).maxAttempts).toBe(5)
    expect(() => resolveOptions({ ...base, maxAttempts: 0 })).toThrow(ConfigError)
    expect(() => resolveOptions({ ...base, maxAttempts: 1.5 })).toThrow(/maxAttempts must be a whole number/)
  })
})

describe('acknowledging a new upgrade', () => {
  it('within about one poll interval, even while an earlier upgrade waits out a long backoff', async () => {
    const storage = memoryStorage()
    const engine = stubEngine(async () => {
      throw new Error('nothing loads on this machine')
    })
    const relup = await startRuntime(storage, { engine, pollInterval: 100, retryBaseDelay: 60_000 })
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitFor(() => relup.getState().lastUpgrade?.status === 'failed', 'v2 to fail')
    expect(relup.getState().nextRetry!.getTime() - Date.now()).toBeGreaterThan(20_000)

    const published = Date.now()
    const v3 = await publishDirect(storage, await writeRelease(await tempDir(), 'v3'), { version: 'v3' })
    await waitFor(() => machineResult(storage, v3.upgradeId, 'm1'), 'a result for v3', 3000)
    // One poll (100 ms ± 10 %) and the attempt's first write; far from v2's 30-60 s backoff.
    expect(Date.now() - published).toBeLessThan(1500)
  })

  it('the machine record says how often the machine polls, for publishers to size their patience', async () => {
    const storage = memoryStorage()
    await startRuntime(storage, { engine: stubEngine(), pollInterval: 250, heartbeatInterval: 30_000 })
    const record = await readDocument(storage, keys.machine('m1'), parseMachineRecord)
    expect(record.status === 'ok' && record.document).toMatchObject({
      pollIntervalMs: 250,
      heartbeatMs: 30_000,
    })
  })

  it('an idle machine makes one conditional GET per poll and no write between heartbeats', async () => {
    const spy = spyStorage(memoryStorage())
    const relup = await startRuntime(spy.storage, { engine: stubEngine(), pollInterval: 10 })
    const writesAtBoot = spy.writes()
    const from = spy.calls.length
    await waitFor(() => spy.gets(keys.current).length >= 20, 'twenty polls')
    const idle = spy.calls.slice(from)
    expect(spy.writes()).toBe(writesAtBoot)
    expect(idle.every((call) => call.op === 'get' && call.key === keys.current)).toBe(true)
    expect(idle.every((call) => call.ifNoneMatch === relup.getState().etag)).toBe(true)
  })
})
