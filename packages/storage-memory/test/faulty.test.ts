import { isRelupError, StorageTransportError } from '@relup/core'
import { faultyStorage } from '@relup/storage-conformance'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../src/index.js'

describe('faultyStorage', () => {
  it('fails every call with a retryable transport error during an outage, and recovers when it ends', async () => {
    const storage = faultyStorage(memoryStorage(), { failRate: 1 })
    const error = await storage.put('a.json', 'x').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageTransportError)
    expect(
      isRelupError(error, 'ERR_RELUP_STORAGE_TRANSPORT') && (error as StorageTransportError).retryable,
    ).toBe(true)
    await expect(storage.get('a.json')).rejects.toThrow(/injected fault/)
    storage.faults.failRate = 0
    expect((await storage.put('a.json', 'x')).status).toBe('ok')
    expect((await storage.get('a.json')).status).toBe('ok')
    expect(storage.stats).toMatchObject({ calls: 4, failures: 2 })
  })

  it('is reproducible from its seed', async () => {
    const pattern = async (seed: number) => {
      const storage = faultyStorage(memoryStorage(), { failRate: 0.5, seed })
      const outcomes: boolean[] = []
      for (let i = 0; i < 40; i++)
        outcomes.push(
          await storage.get('k').then(
            () => true,
            () => false,
          ),
        )
      return outcomes
    }
    const a = await pattern(7)
    expect(await pattern(7)).toEqual(a)
    expect(await pattern(8)).not.toEqual(a)
    const failures = a.filter((ok) => !ok).length
    expect(failures).toBeGreaterThan(8)
    expect(failures).toBeLessThan(32)
  })

  it('adds latency to the operations it targets only', async () => {
    const storage = faultyStorage(memoryStorage(), { latencyMs: 60, operations: ['get'] })
    let start = performance.now()
    await storage.put('k', 'v')
    expect(performance.now() - start).toBeLessThan(50)
    start = performance.now()
    await storage.get('k')
    expect(performance.now() - start).toBeGreaterThanOrEqual(55)
  })
})
