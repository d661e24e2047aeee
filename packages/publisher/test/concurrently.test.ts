import { describe, expect, it } from 'vitest'
import { mapConcurrently } from '../src/concurrently.js'

describe('mapConcurrently', () => {
  it('keeps at most `limit` calls in flight and returns the results in the items order', async () => {
    let inFlight = 0
    let peak = 0
    const items = Array.from({ length: 40 }, (_, i) => i)
    const results = await mapConcurrently(items, 16, async (item) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      // Later items finish first: the order of the results must not follow completion.
      await new Promise((resolve) => setTimeout(resolve, (40 - item) % 7))
      inFlight--
      return item * 2
    })
    expect(results).toEqual(items.map((item) => item * 2))
    expect(peak).toBe(16)
  })

  it('runs nothing for no items, and rejects with the first failure', async () => {
    expect(await mapConcurrently([], 16, async () => 1)).toEqual([])
    await expect(
      mapConcurrently([1, 2, 3], 2, async (item) => {
        if (item === 2) throw new Error('two failed')
        return item
      }),
    ).rejects.toThrow('two failed')
  })
})
