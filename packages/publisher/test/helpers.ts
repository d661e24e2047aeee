import {
  type HotUpgrade,
  type HotUpgradeFields,
  type ListOptions,
  type MachineResult,
  newHotUpgrade,
  type Storage,
} from '@relup/core'
import { type MemoryStorage, memoryStorage } from '@relup/storage-memory'
import { fakeFleet, testDirs } from '@relup/testkit'
import { afterEach } from 'vitest'
import type { Reporter } from '../src/index.js'

export { COMPLETED_STATS, DEGRADED_STATS, type MachineBehaviour } from '@relup/testkit'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
})
export const onCleanup = (fn: () => Promise<unknown>) => cleanups.push(fn)

export const { tempDir, hotDir } = testDirs(onCleanup, 'publisher')

export const APP = 'chat'
export const { keys, bootPointer, pointerOf, announceMachine, writeResult, simulateMachines } = fakeFleet(
  APP,
  onCleanup,
)

export const freshStorage = (): MemoryStorage => memoryStorage()

/** A hot upgrade made by hand (core's constructor), for stores set up without publishing. */
export function hotUpgrade(
  fields: Partial<HotUpgradeFields> & Pick<HotUpgradeFields, 'version'>,
  now?: Date,
): HotUpgrade {
  const sha256 = fields.artifact?.sha256 ?? 'a'.repeat(64)
  return newHotUpgrade(
    {
      sourceRef: `sha256:${sha256}`,
      baseRef: 'image-1',
      artifact: { key: keys.artifact(fields.version, sha256), sha256, size: 3 },
      manifest: { files: { 'handler.js': { sha256, size: 3 } }, nativeAddons: [], nodeAbi: null },
      publishedBy: 'test@host',
      ...fields,
    },
    now,
  )
}

/** A reporter that remembers what it was told. */
export function recordingReporter() {
  const steps: string[] = []
  const warnings: string[] = []
  const results: MachineResult[] = []
  const reporter: Reporter = {
    step: (message) => steps.push(message),
    warn: (message) => warnings.push(message),
    result: (result) => results.push(result),
  }
  return { reporter, steps, warnings, results }
}

/** `inner`, with every `list` page cut to `pageSize` keys and each call counted by prefix. */
export function countingLists(inner: Storage, pageSize: number) {
  const calls = new Map<string, number>()
  const storage: Storage = {
    name: inner.name,
    capabilities: inner.capabilities,
    get: (key, options) => inner.get(key, options),
    getStream: (key, options) => inner.getStream(key, options),
    put: (key, body, options) => inner.put(key, body, options),
    delete: (key, options) => inner.delete(key, options),
    list: (prefix: string, options: ListOptions = {}) => {
      calls.set(prefix, (calls.get(prefix) ?? 0) + 1)
      return inner.list(prefix, { ...options, limit: pageSize })
    },
  }
  return { storage, listCalls: (prefix: string) => calls.get(prefix) ?? 0 }
}
