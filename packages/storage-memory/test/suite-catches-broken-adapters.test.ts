// The conformance suite must fail adapters that break the contract; otherwise passing it
// proves nothing. Each broken adapter below is the memory adapter with one lie added, run
// through the suite with a tiny collector instead of vitest.
import type { Storage } from '@relup/core'
import { storageConformance } from '@relup/storage-conformance'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../src/index.js'

async function failingTests(create: () => Storage): Promise<string[]> {
  const tests: { name: string; fn: () => Promise<void> }[] = []
  const path: string[] = []
  storageConformance({
    name: 'under test',
    create,
    describe: (name, fn) => {
      path.push(name)
      fn()
      path.pop()
    },
    it: (name, fn) => tests.push({ name: [...path, name].join(' > '), fn }),
    paginationKeys: 1050,
  })
  const failures: string[] = []
  for (const test of tests) {
    try {
      await test.fn()
    } catch {
      failures.push(test.name)
    }
  }
  return failures
}

describe('the conformance suite', () => {
  it('passes the honest memory adapter with the same collector', async () => {
    expect(await failingTests(() => memoryStorage())).toEqual([])
  }, 60_000)

  it('fails an adapter that ignores ifMatch', async () => {
    const failures = await failingTests(() => {
      const inner = memoryStorage()
      return { ...inner, put: (key, body, o) => inner.put(key, body, { ...o, ifMatch: undefined }) }
    })
    expect(failures.some((f) => f.includes('20 concurrent puts with the same ifMatch'))).toBe(true)
    expect(failures.some((f) => f.includes('replaces on the current etag, refuses a stale one'))).toBe(true)
    expect(failures.some((f) => f.includes('ifMatch on a missing key fails'))).toBe(true)
  }, 60_000)

  it('fails an adapter that ignores create-only', async () => {
    const failures = await failingTests(() => {
      const inner = memoryStorage()
      return { ...inner, put: (key, body, o) => inner.put(key, body, { ...o, ifNoneMatch: undefined }) }
    })
    expect(failures.some((f) => f.includes('exactly one wins') && f.includes('create-only'))).toBe(true)
  }, 60_000)

  it('fails an adapter that declares a capability unsupported but silently ignores it', async () => {
    const failures = await failingTests(() => {
      const inner = memoryStorage()
      const capabilities = { ...inner.capabilities, conditionalDelete: false }
      return { ...inner, capabilities, delete: (key) => inner.delete(key) }
    })
    expect(failures).toEqual([
      expect.stringContaining('every capability declared unsupported throws when asked'),
    ])
  }, 60_000)

  it('fails an adapter whose listing treats a prefix as a plain string prefix', async () => {
    const failures = await failingTests(() => {
      const inner = memoryStorage()
      return {
        ...inner,
        list: async (prefix, o) => {
          const parent = prefix.slice(0, prefix.lastIndexOf('/') + 1)
          const page = await inner.list(parent.replace(/\/$/, ''), { ...o, limit: 1000 })
          return { items: page.items.filter((i) => i.key.startsWith(prefix)) }
        },
      }
    })
    expect(failures.some((f) => f.includes('a prefix is a folder'))).toBe(true)
    expect(failures.some((f) => f.includes('pagination past 1,000 keys'))).toBe(true)
  }, 60_000)

  it('fails an adapter that never answers not-modified', async () => {
    const failures = await failingTests(() => {
      const inner = memoryStorage()
      return { ...inner, get: (key) => inner.get(key), getStream: (key) => inner.getStream(key) }
    })
    expect(failures.some((f) => f.includes('the current etag answers not-modified'))).toBe(true)
  }, 60_000)
})
