// The conformance suite must fail adapters that break the contract; otherwise passing it
// proves nothing. Each broken adapter below is the memory adapter with one lie added, run
// through the suite with a tiny collector instead of vitest.
import type { Storage, StorageCapabilities } from '@relup/core'
import { storageConformance } from '@relup/storage-conformance'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../src/index.js'
import { memoryWithoutConditionalDelete } from './fixtures/memoryWithoutConditionalDelete.js'

interface Outcomes {
  passed: string[]
  failed: string[]
  skipped: string[]
}

/**
 * Run the suite on `create`'s stores, declaring `capabilities` (by default what the stores
 * declare, as an adapter author passes them; `'omitted'` leaves the option out).
 */
async function collect(
  create: () => Storage,
  capabilities: StorageCapabilities | 'omitted' = create().capabilities,
): Promise<Outcomes> {
  const tests: { name: string; fn: () => Promise<void>; skipped: boolean }[] = []
  const path: string[] = []
  const register = (skipped: boolean) => (name: string, fn: () => Promise<void>) => {
    tests.push({ name: [...path, name].join(' > '), fn, skipped })
  }
  storageConformance({
    name: 'under test',
    create,
    ...(capabilities === 'omitted' ? {} : { capabilities }),
    describe: (name, fn) => {
      path.push(name)
      fn()
      path.pop()
    },
    it: Object.assign(register(false), { skip: register(true) }),
    paginationKeys: 1050,
  })
  const outcomes: Outcomes = { passed: [], failed: [], skipped: [] }
  for (const test of tests) {
    if (test.skipped) {
      outcomes.skipped.push(test.name)
      continue
    }
    try {
      await test.fn()
      outcomes.passed.push(test.name)
    } catch {
      outcomes.failed.push(test.name)
    }
  }
  return outcomes
}

const failingTests = async (create: () => Storage) => (await collect(create)).failed

const CONDITIONAL_DELETE = 'delete > a conditional delete only removes the expected version'
const HONESTY = 'capability honesty > every capability declared unsupported throws when asked, never ignored'
const DECLARES_EXACTLY = 'declares exactly options.capabilities'

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

describe('the conformance suite, for a capability the adapter does not declare', () => {
  it('reports its tests as skipped, not passed, and checks that asking for it throws', async () => {
    const outcomes = await collect(memoryWithoutConditionalDelete)
    expect(outcomes.skipped).toEqual([expect.stringContaining(CONDITIONAL_DELETE)])
    expect(outcomes.failed).toEqual([])
    expect(outcomes.passed).toContainEqual(expect.stringContaining(HONESTY))
  }, 60_000)

  it('reports the honesty test as skipped when every capability is declared: it has nothing to check', async () => {
    const outcomes = await collect(() => memoryStorage())
    expect(outcomes.skipped).toEqual([expect.stringContaining(HONESTY)])
    expect(outcomes.failed).toEqual([])
  }, 60_000)

  it('fails its tests, rather than passing or skipping them, when options.capabilities is omitted', async () => {
    const outcomes = await collect(memoryWithoutConditionalDelete, 'omitted')
    expect(outcomes.failed).toEqual([
      expect.stringContaining(DECLARES_EXACTLY),
      expect.stringContaining(CONDITIONAL_DELETE),
    ])
  }, 60_000)

  it('fails a store that declares more than options.capabilities says', async () => {
    const outcomes = await collect(() => memoryStorage(), {
      ...memoryStorage().capabilities,
      conditionalDelete: false,
    })
    expect(outcomes.skipped).toEqual([expect.stringContaining(CONDITIONAL_DELETE)])
    expect(outcomes.failed).toContainEqual(expect.stringContaining(DECLARES_EXACTLY))
  }, 60_000)

  it('refuses, before registering any test, a runner whose it has no .skip', () => {
    const registered: string[] = []
    const plainIt = (name: string) => {
      registered.push(name)
    }
    expect(() =>
      storageConformance({
        name: 'under test',
        create: () => memoryStorage(),
        describe: (_name, fn) => fn(),
        // @ts-expect-error: ConformanceIt requires .skip, so type-checking catches this too
        it: plainIt,
      }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_RELUP_CONFIG', message: expect.stringMatching(/has no \.skip/) }),
    )
    expect(registered).toEqual([])
  })
})
