/**
 * What every conformance test runs in: the options, a fresh store per test under its own random
 * folder, cleanup, and the rule that registers a test with the runner's `it`, or with `it.skip`
 * when the adapter does not declare what the test needs, so the runner reports it as skipped.
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import {
  ConfigError,
  listAll,
  type Storage,
  type StorageCapabilities,
  type StorageCapability,
} from '@relup/core'

export type ConformanceGroup =
  | 'round-trip'
  | 'streaming'
  | 'listing'
  | 'conditional-get'
  | 'create-only'
  | 'compare-and-swap'
  | 'delete'
  | 'keys'
  | 'capabilities'

/** The runner's `it`/`test`, as vitest, node:test, jest and mocha export it. */
export interface ConformanceIt {
  /** Called as `it(name, fn, timeoutMs)`. */
  (name: string, fn: () => Promise<void>, timeout?: number): void
  /** Called as `it.skip(name, fn)` for a test the runner must report as skipped. */
  skip: (name: string, fn: () => Promise<void>) => void
}

export type ConformanceDescribe = (name: string, fn: () => void) => void

export interface ConformanceOptions {
  /** Shown in the suite's title. */
  name: string
  /** A fresh store for one test. */
  create: () => Storage | Promise<Storage>
  /** Called after each test with the store it used (close clients, remove directories). */
  cleanup?: (storage: Storage) => void | Promise<void>
  /**
   * The capabilities the stores `create()` returns declare, e.g. `myStorage(config).capabilities`:
   * the tests of a capability declared `false` are registered with `it.skip`, and a test checks
   * that every store declares exactly these. Default: every capability, the full contract; an
   * adapter that declares less must say so here, or the tests of what it lacks fail.
   */
  capabilities?: StorageCapabilities
  describe: ConformanceDescribe
  /** The runner's `it`; it must have `.skip` (vitest, node:test, jest and mocha do). */
  it: ConformanceIt
  /** Per-test timeout passed as `it`'s third argument (default 60 s); runners that take options elsewhere ignore it. */
  timeout?: number
  /** Groups reported as skipped, e.g. while developing an adapter. A published adapter should pass all. */
  skip?: ConformanceGroup[]
  /** How many keys the pagination test writes (default 1,050: past one 1,000-key page). */
  paginationKeys?: number
}

export const CAPABILITIES: readonly StorageCapability[] = [
  'conditionalGet',
  'createOnly',
  'compareAndSwap',
  'conditionalDelete',
]

/** The options once checked, with their defaults. */
export interface ResolvedOptions {
  name: string
  create: () => Storage | Promise<Storage>
  cleanup: ((storage: Storage) => void | Promise<void>) | undefined
  describe: ConformanceDescribe
  it: ConformanceIt
  timeout: number
  /** What the tests are registered for: `options.capabilities`, or every capability. */
  capabilities: StorageCapabilities
  capabilitiesGiven: boolean
  skip: ReadonlySet<ConformanceGroup>
  paginationKeys: number
}

/**
 * Check the options before any test is registered: a runner without `it.skip` would have no
 * honest way to report a test the adapter cannot run, so it is refused rather than guessed at.
 */
export function resolveOptions(options: ConformanceOptions): ResolvedOptions {
  if (typeof options.it?.skip !== 'function') {
    throw new ConfigError(
      'it',
      `storageConformance(${options.name}): options.it has no .skip. The suite registers the tests ` +
        `of a capability your adapter does not declare (and the groups in options.skip) with ` +
        `it.skip so that the runner reports them as skipped, not passed. Pass your runner's it ` +
        `(vitest, node:test, jest and mocha all have it.skip), or give yours a skip(name, fn).`,
    )
  }
  const given = options.capabilities
  if (given !== undefined) {
    const invalid = CAPABILITIES.filter((capability) => typeof given[capability] !== 'boolean')
    if (invalid.length > 0) {
      throw new ConfigError(
        'capabilities',
        `storageConformance(${options.name}): options.capabilities.${invalid.join(', .')} must be ` +
          `a boolean; pass what your adapter declares, e.g. capabilities: myStorage(config).capabilities`,
      )
    }
  }
  return {
    name: options.name,
    create: options.create,
    cleanup: options.cleanup,
    describe: options.describe,
    it: options.it,
    timeout: options.timeout ?? 60_000,
    capabilities: given ?? {
      conditionalGet: true,
      createOnly: true,
      compareAndSwap: true,
      conditionalDelete: true,
    },
    capabilitiesGiven: given !== undefined,
    skip: new Set(options.skip ?? []),
    paginationKeys: options.paginationKeys ?? 1050,
  }
}

/** A test's body: the store under test, and `k` to put a key in the test's own folder. */
export type TestBody = (storage: Storage, k: (key: string) => string) => Promise<void>

/** How a group registers its tests. */
export interface Harness {
  readonly options: ResolvedOptions
  /** A test every adapter runs. */
  test(name: string, body: TestBody): void
  /** A test that needs `capability`: reported as skipped when the adapter does not declare it. */
  testWith(capability: StorageCapability, name: string, body: TestBody): void
  /** A test that only means something when `run`: otherwise reported as skipped. */
  testIf(run: boolean, name: string, body: TestBody): void
}

/** The harness for one group; `skipGroup` registers every test of it as skipped. */
export function createHarness(options: ResolvedOptions, skipGroup = false): Harness {
  const { it } = options

  /** Run `body` with a fresh store and a random folder for its keys. */
  const inFreshStore = (body: TestBody) => async () => {
    const storage = await options.create()
    const folder = `conformance-${randomBytes(6).toString('hex')}`
    try {
      await body(storage, (key) => `${folder}/${key}`)
    } finally {
      // Leave nothing behind in a shared bucket (best effort: the test's outcome stands).
      try {
        for await (const item of listAll(storage, folder)) await storage.delete(item.key)
      } catch {}
      await options.cleanup?.(storage)
    }
  }

  const testIf = (run: boolean, name: string, body: TestBody) => {
    if (run && !skipGroup) it(name, inFreshStore(body), options.timeout)
    else it.skip(name, inFreshStore(body))
  }

  return {
    options,
    test: (name, body) => testIf(true, name, body),
    testIf,
    testWith: (capability, name, body) =>
      testIf(options.capabilities[capability], name, async (storage, k) => {
        // Registered because options.capabilities says so: a store that disagrees fails, never passes.
        assert.equal(
          storage.capabilities[capability],
          true,
          options.capabilitiesGiven
            ? `options.capabilities says ${capability}: true, but ${storage.name} declares it false; ` +
                `pass the capabilities its stores declare`
            : `${storage.name} declares ${capability}: false and options.capabilities is omitted, so ` +
                `the suite expects every capability; pass capabilities: <your storage>.capabilities ` +
                `and the tests of ${capability} are reported as skipped`,
        )
        await body(storage, k)
      }),
  }
}
