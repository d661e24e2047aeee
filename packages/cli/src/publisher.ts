/**
 * Publishing and rolling back, as a library (the CLI is a thin layer on top): pack → upload the
 * artifact (create-only) → take the lock → move the pointer (compare-and-swap) → wait for the
 * machines → release the lock.
 */

import type { KeyObject } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pack, signHotUpgrade } from '@relup/artifact'
import {
  ConfigError,
  type CurrentPointer,
  type HotUpgrade,
  listAll,
  type MachineResult,
  newUpgradeId,
  parseCurrentPointer,
  parseHotUpgrade,
  type RelupKeys,
  readDocument,
  relupKeys,
  type Storage,
  withHotUpgrade,
  writeDocument,
} from '@relup/core'
import { NothingToRollBackError, StorageUnfitError } from './errors.js'
import { acquireLock, type HeldLock, releaseLock, whoAmI } from './lock.js'
import { expectedMachines, type MachineOutcome, type WaitProgress, waitForResults } from './wait.js'

export interface Reporter {
  step?(message: string): void
  progress?(progress: WaitProgress): void
  result?(result: MachineResult): void
  warn?(message: string): void
}

/** What publish and rollback share: where, who signs, how long to wait, the lock. */
export interface DeployOptions {
  storage: Storage
  app: string
  prefix?: string | undefined
  /** Private key (PEM or KeyObject) to sign the hot upgrade with. */
  sign?: string | KeyObject | undefined
  /** How long to wait for the machines, ms (default 120,000). */
  timeoutMs?: number | undefined
  /** Don't wait for results: move the pointer and return. */
  wait?: boolean | undefined
  /** Wait for exactly this many machines (default: the machines on this base that reported recently). */
  expect?: number | undefined
  /** Take the lock over even when another publisher holds it. */
  force?: boolean | undefined
  /** Lock expiry, ms (default: the wait timeout + 60 s). */
  lockTtlMs?: number | undefined
  reporter?: Reporter | undefined
  /** Results poll interval while waiting, ms (default 500). */
  pollMs?: number | undefined
}

export interface PublishOptions extends DeployOptions {
  dir: string
  /** Default: the `version` of `<dir>/package.json`, else `hot-<sha12>`. */
  version?: string | undefined
  /** The cold build this upgrade is for. Default: the pointer's current base. */
  baseRef?: string | undefined
  /** What the hot code was built from (a commit...). Default: `sha256:<artifact sha256>`. */
  sourceRef?: string | undefined
}

export interface RollbackOptions extends DeployOptions {
  /** The version to go back to. Default: the last published version before the current one. */
  to?: string | undefined
}

export interface PublishOutcome {
  upgrade: HotUpgrade
  /** True when an identical artifact was already in storage. */
  artifactReused: boolean
  outcomes: MachineOutcome[]
  /** Machines `--expect` asked for that never answered at all. */
  missing: number
  waited: boolean
  /** True when every expected machine completed. */
  ok: boolean
  /** Whose lock was taken over (expired or forced), if any. */
  replacedLock: string | null
  durationMs: number
}

function requireCapabilities(storage: Storage): void {
  const missing = (['createOnly', 'compareAndSwap'] as const).filter((c) => !storage.capabilities[c])
  if (missing.length > 0) {
    throw new StorageUnfitError(
      `${storage.name} does not support ${missing.join(' and ')}, which publishing needs to stay correct with several writers; ` +
        'run `relup doctor` against it, or use a store that does (S3, R2, MinIO, Tigris, a local directory).',
    )
  }
}

async function defaultVersion(dir: string, sha256: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: unknown }
    if (typeof pkg.version === 'string' && /^[A-Za-z0-9._+-]{1,64}$/.test(pkg.version)) return pkg.version
  } catch {}
  return `hot-${sha256.slice(0, 12)}`
}

async function readPointer(storage: Storage, keys: RelupKeys) {
  const read = await readDocument(storage, keys.current, parseCurrentPointer)
  return read.status === 'ok' ? { pointer: read.document, etag: read.etag } : null
}

/** Move the pointer with compare-and-swap, re-reading when a machine wrote it meanwhile. */
async function movePointer(
  storage: Storage,
  keys: RelupKeys,
  app: string,
  hot: HotUpgrade,
): Promise<CurrentPointer> {
  for (let round = 0; round < 10; round++) {
    const current = await readPointer(storage, keys)
    const context = { setBy: `publisher:${hot.publishedBy}` }
    const next: CurrentPointer = current
      ? withHotUpgrade(current.pointer, hot, context)
      : {
          schema: 1,
          app,
          baseRef: hot.baseRef,
          previousBases: [],
          hot,
          seq: 1,
          setAt: new Date().toISOString(),
          setBy: context.setBy,
        }
    const put = await writeDocument(
      storage,
      keys.current,
      next,
      current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
    )
    if (put.status === 'ok') return next
    // A retried write whose first attempt landed reports a failure although it won.
    const after = await readPointer(storage, keys)
    if (after?.pointer.hot?.upgradeId === hot.upgradeId) return after.pointer
  }
  throw new Error('the pointer kept changing while publishing (10 compare-and-swap rounds lost); try again')
}

async function deploy(
  hot: HotUpgrade,
  options: DeployOptions,
  keys: RelupKeys,
  lock: HeldLock,
  started: number,
  artifactReused: boolean,
): Promise<PublishOutcome> {
  const { storage, reporter } = options
  const timeoutMs = options.timeoutMs ?? 120_000
  // Expected machines are read before the pointer moves, so a fast machine is not missed.
  const expected = options.expect === undefined ? await expectedMachines(storage, keys, hot.baseRef) : []
  await writeDocument(storage, keys.history(hot.upgradeId), hot, { ifNoneMatch: '*' })
  await movePointer(storage, keys, options.app, hot)
  reporter?.step?.(`pointer moved to ${hot.version} (upgrade ${hot.upgradeId})`)
  if (options.wait === false) {
    return {
      upgrade: hot,
      artifactReused,
      outcomes: [],
      missing: 0,
      waited: false,
      ok: true,
      replacedLock: lock.replaced?.owner ?? null,
      durationMs: performance.now() - started,
    }
  }
  const target = options.expect ?? expected.length
  if (target === 0)
    reporter?.warn?.(`no machine on base ${hot.baseRef} reported recently: nothing to wait for`)
  else
    reporter?.step?.(
      `waiting for ${target} machine${target === 1 ? '' : 's'} on base ${hot.baseRef} (timeout ${Math.round(timeoutMs / 1000)} s)`,
    )
  const outcomes = await waitForResults(storage, keys, expected, {
    upgradeId: hot.upgradeId,
    baseRef: hot.baseRef,
    expect: options.expect,
    timeoutMs,
    pollMs: options.pollMs,
    onProgress: reporter?.progress,
    onResult: reporter?.result,
  })
  const missing = Math.max(0, target - outcomes.length)
  const ok = missing === 0 && outcomes.length >= target && outcomes.every((o) => o.status === 'completed')
  return {
    upgrade: hot,
    artifactReused,
    outcomes,
    missing,
    waited: true,
    ok,
    replacedLock: lock.replaced?.owner ?? null,
    durationMs: performance.now() - started,
  }
}

async function withLock<T>(
  options: DeployOptions,
  keys: RelupKeys,
  purpose: string,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(options.storage, keys, {
    app: options.app,
    purpose,
    ttlMs: options.lockTtlMs ?? (options.timeoutMs ?? 120_000) + 60_000,
    force: options.force ?? false,
  })
  if (lock.replaced)
    options.reporter?.warn?.(
      `took over the lock held by ${lock.replaced.owner} since ${lock.replaced.acquiredAt} (${lock.replaced.purpose})`,
    )
  try {
    return await fn(lock)
  } finally {
    const released = await releaseLock(options.storage, keys, lock).catch(() => false)
    if (!released)
      options.reporter?.warn?.('the lock was taken over by someone else meanwhile; left it to them')
  }
}

export async function publish(options: PublishOptions): Promise<PublishOutcome> {
  const started = performance.now()
  const { storage, reporter } = options
  requireCapabilities(storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })

  reporter?.step?.(`packing ${options.dir}`)
  const packed = await pack(options.dir)
  try {
    const version = options.version ?? (await defaultVersion(options.dir, packed.sha256))
    const baseRef = options.baseRef ?? (await readPointer(storage, keys))?.pointer.baseRef
    if (!baseRef) {
      throw new ConfigError(
        'baseRef',
        `no machine of ${options.app} has booted against ${storage.name} yet (there is no pointer), so the base is unknown: pass --base-ref <ref>`,
      )
    }
    const key = keys.artifact(version, packed.sha256)
    reporter?.step?.(
      `uploading ${key} (${formatBytes(packed.size)}, ${Object.keys(packed.manifest.files).length} files)`,
    )
    const upload = await storage.put(key, createReadStream(packed.path), {
      ifNoneMatch: '*',
      contentLength: packed.size,
      contentType: 'application/gzip',
    })
    const artifactReused = upload.status === 'precondition-failed'
    if (artifactReused) reporter?.step?.('the same artifact is already in storage: reusing it')

    return await withLock(options, keys, `publish ${version}`, async (lock) => {
      let hot: HotUpgrade = {
        version,
        upgradeId: newUpgradeId(),
        sourceRef: options.sourceRef ?? `sha256:${packed.sha256}`,
        baseRef,
        artifact: { key, sha256: packed.sha256, size: packed.size },
        manifest: packed.manifest,
        publishedAt: new Date().toISOString(),
        publishedBy: whoAmI(),
      }
      if (options.sign) hot = signHotUpgrade(hot, options.sign)
      return deploy(hot, options, keys, lock, started, artifactReused)
    })
  } finally {
    await rm(packed.path, { force: true })
  }
}

/** Every hot upgrade published for this app, oldest first. */
export async function publishHistory(storage: Storage, app: string, prefix?: string): Promise<HotUpgrade[]> {
  const keys = relupKeys(app, { prefix })
  const history: HotUpgrade[] = []
  for await (const item of listAll(storage, keys.historyPrefix)) {
    const read = await readDocument(storage, item.key, parseHotUpgrade).catch(() => null)
    if (read?.status === 'ok') history.push(read.document)
  }
  return history.sort((a, b) => (a.upgradeId < b.upgradeId ? -1 : a.upgradeId > b.upgradeId ? 1 : 0))
}

export async function rollback(options: RollbackOptions): Promise<PublishOutcome> {
  const started = performance.now()
  const { storage } = options
  requireCapabilities(storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const current = await readPointer(storage, keys)
  if (!current?.pointer.hot)
    throw new NothingToRollBackError(`${options.app} runs no hot upgrade: there is nothing to roll back`)
  const running = current.pointer.hot
  const candidates = (await publishHistory(storage, options.app, options.prefix)).filter(
    (h) => h.baseRef === running.baseRef,
  )
  let target: HotUpgrade | undefined
  if (options.to !== undefined) {
    target = candidates.filter((h) => h.version === options.to).at(-1)
    if (!target) {
      const versions = [...new Set(candidates.map((h) => h.version))]
      throw new NothingToRollBackError(
        `no published version ${options.to} for base ${running.baseRef}; known versions: ${versions.join(', ') || 'none'}`,
      )
    }
  } else {
    target = candidates
      .filter((h) => h.upgradeId < running.upgradeId && h.artifact.sha256 !== running.artifact.sha256)
      .at(-1)
    if (!target)
      throw new NothingToRollBackError(
        `no earlier version of ${options.app} on base ${running.baseRef} to roll back to`,
      )
  }
  let artifactFound = false
  for await (const item of listAll(storage, keys.artifactsPrefix))
    if (item.key === target.artifact.key) artifactFound = true
  if (!artifactFound) {
    throw new NothingToRollBackError(
      `the artifact of ${target.version} (${target.artifact.key}) is no longer in storage; publish it again instead`,
    )
  }
  return withLock(options, keys, `rollback to ${target.version}`, async (lock) => {
    let hot: HotUpgrade = {
      ...target,
      signature: undefined,
      upgradeId: newUpgradeId(),
      publishedAt: new Date().toISOString(),
      publishedBy: whoAmI(),
    }
    if (options.sign) hot = signHotUpgrade(hot, options.sign)
    return deploy(hot, options, keys, lock, started, true)
  })
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
