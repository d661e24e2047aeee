import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type CurrentPointer,
  fingerprint,
  type HotUpgrade,
  type HotUpgradeFields,
  initialPointer,
  type ListOptions,
  type MachineRecord,
  type MachineResult,
  newHotUpgrade,
  parseCurrentPointer,
  readDocument,
  relupKeys,
  type Storage,
  type UpgradeStats,
  writeDocument,
} from '@relup/core'
import { type MemoryStorage, memoryStorage } from '@relup/storage-memory'
import { afterEach } from 'vitest'
import type { Reporter } from '../src/index.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
})
export const onCleanup = (fn: () => Promise<unknown>) => cleanups.push(fn)

export async function tempDir(label = 'publisher'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `relup-${label}-`))
  onCleanup(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A hot code directory whose handler answers `version`. */
export async function hotDir(version: string, extra: Record<string, string> = {}): Promise<string> {
  const dir = await tempDir('hot')
  await writeFile(join(dir, 'handler.js'), `module.exports = () => ${JSON.stringify(version)}\n`)
  for (const [name, content] of Object.entries(extra)) {
    await mkdir(join(dir, name, '..'), { recursive: true })
    await writeFile(join(dir, name), content)
  }
  return dir
}

export const APP = 'chat'
export const keys = relupKeys(APP)

export const freshStorage = (): MemoryStorage => memoryStorage()

/** What the first machine of `image-1` writes when it boots. */
export async function bootPointer(storage: Storage, baseRef = 'image-1') {
  await writeDocument(storage, keys.current, initialPointer(APP, baseRef, { setBy: 'machine:test' }), {
    ifNoneMatch: '*',
  })
}

export async function pointerOf(storage: Storage): Promise<CurrentPointer> {
  const read = await readDocument(storage, keys.current, parseCurrentPointer)
  if (read.status !== 'ok') throw new Error('no pointer')
  return read.document
}

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

export async function announceMachine(
  storage: Storage,
  machineId: string,
  baseRef = 'image-1',
  extra: Partial<MachineRecord> = {},
) {
  const now = new Date().toISOString()
  const record: MachineRecord = {
    schema: 1,
    app: APP,
    machineId,
    region: 'ams',
    baseRef,
    hotRef: null,
    version: null,
    upgradeId: null,
    fingerprint: fingerprint(baseRef, null),
    startedAt: now,
    updatedAt: now,
    lastResult: null,
    heartbeatMs: 60_000,
    stoppedAt: null,
    ...extra,
  }
  await writeDocument(storage, keys.machine(machineId), record)
}

export const COMPLETED_STATS: UpgradeStats = {
  modulesReloaded: 1,
  moduleNames: ['handler.js'],
  unitsMigrated: 0,
  unitNames: [],
  unitsFailed: 0,
  pauseMs: 0.2,
  totalMs: 12,
}

/** Stats of an upgrade that committed while the old `counter` instance failed to dispose. */
export const DEGRADED_STATS: UpgradeStats = {
  ...COMPLETED_STATS,
  unitsMigrated: 1,
  unitNames: ['counter'],
  unitsFailed: 1,
  degraded: true,
  disposeErrors: [{ unit: 'counter', version: 'v1', message: 'socket still open' }],
}

export type MachineBehaviour = 'complete' | 'degraded' | 'fail' | 'silent' | 'stuck'

/**
 * A stand-in for machines: it watches the pointer and writes each machine's results the way the
 * runtime does (pending, then completed or failed). The real runtime is exercised end to end in
 * the fleet tests of apps/demo.
 */
export function simulateMachines(storage: Storage, machines: Record<string, MachineBehaviour>): () => void {
  let stopped = false
  const handled = new Set<string>()
  const loop = async () => {
    while (!stopped) {
      const read = await readDocument(storage, keys.current, parseCurrentPointer).catch(() => null)
      const hot = read?.status === 'ok' ? read.document.hot : null
      if (hot && !handled.has(hot.upgradeId)) {
        handled.add(hot.upgradeId)
        for (const [machineId, behaviour] of Object.entries(machines)) {
          if (behaviour === 'silent') continue
          const base = {
            schema: 1 as const,
            upgradeId: hot.upgradeId,
            machineId,
            region: 'ams',
            baseRef: hot.baseRef,
            version: hot.version,
            attempt: 1,
            startedAt: new Date().toISOString(),
          }
          await writeResult(storage, {
            ...base,
            status: 'pending',
            finishedAt: null,
            stats: null,
            error: null,
          })
          if (behaviour === 'stuck') continue
          const finishedAt = new Date().toISOString()
          await writeResult(
            storage,
            behaviour === 'fail'
              ? {
                  ...base,
                  status: 'failed',
                  finishedAt,
                  stats: null,
                  error: {
                    code: 'ERR_RELUP_UPGRADE_FAILED',
                    message: `${machineId} could not evaluate handler.js`,
                    phase: 'prepare',
                  },
                }
              : {
                  ...base,
                  status: 'completed',
                  finishedAt,
                  stats: behaviour === 'degraded' ? DEGRADED_STATS : COMPLETED_STATS,
                  error: null,
                },
          )
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  void loop()
  const stop = () => {
    stopped = true
  }
  onCleanup(async () => stop())
  return stop
}

export async function writeResult(storage: Storage, result: MachineResult) {
  await writeDocument(storage, keys.result(result.upgradeId, result.machineId), result)
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
