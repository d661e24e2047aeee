/**
 * Retention (`relup gc`): storage stays bounded however often the app is published. Kept: the
 * pointer's stable release (`hot`) and its candidate, the last `keep` publishes of the history,
 * the upgrade every live machine's record names, the release `rollback` goes back to by default,
 * the cold releases `cold.json` names (the current one and those its rollback offers), and the
 * artifacts and results of all of these. Removed: older history entries, their results, every
 * artifact nothing kept names, and the records of machines silent for `machineRetentionMs` (a
 * fleet that scales out and in adds a machine id each time; a machine that comes back writes its
 * record again at its next heartbeat).
 *
 * Safe against a concurrent publish in two ways. Deletions happen under the deploy lock, so gc
 * never runs between a publish's history write and its pointer move; and an artifact no history
 * entry names (a publish uploads before it takes the lock) is removed only once an earlier gc run
 * saw it unreferenced at least `orphanGraceMs` ago (`gc.json` remembers since when). A publish
 * re-checks its artifact under the lock (`requireStoredArtifact`), so even a reused artifact gc
 * removed meanwhile fails that publish cleanly instead of pointing machines at nothing.
 */
import { hostname } from 'node:os'
import {
  type ArtifactRef,
  ConfigError,
  coldKey,
  DocumentError,
  type HotUpgrade,
  isMachineRecent,
  listAll,
  parseColdPointer,
  parseHotUpgrade,
  parseMachineRecord,
  type RelupKeys,
  readDocument,
  relupKeys,
  type Storage,
  writeDocument,
} from '@relup/core'
import { mapConcurrently } from './concurrently.js'
import { requireCapabilities } from './deploy.js'
import { ArtifactGoneError, LockHeldError } from './errors.js'
import { acquireLock, releaseLock, verifyLock } from './lock.js'
import { readPointer } from './pointer.js'
import type { Reporter } from './types.js'

/** Publishes of history kept by default (on top of whatever the pointer and the machines name). */
export const DEFAULT_KEEP = 20
/** How long an artifact no history entry names is left alone: an upload whose publish has not taken the lock yet. */
export const DEFAULT_ORPHAN_GRACE_MS = 10 * 60_000
/** How long gc may hold the deploy lock. */
const GC_LOCK_TTL_MS = 5 * 60_000
/** A machine record not rewritten for this long belongs to a machine gone for good (live ones rewrite theirs at least every 10 minutes). */
export const DEFAULT_MACHINE_RETENTION_MS = 7 * 24 * 60 * 60_000
/** Deletes in flight at once. */
const DELETE_CONCURRENCY = 16

export interface GcOptions {
  storage: Storage
  app: string
  /** Key prefix (default `relup/<app>/`). */
  prefix?: string | undefined
  /** How many of the latest publishes (history entries) to keep, at least 1 (default `DEFAULT_KEEP`). */
  keep?: number | undefined
  /** Say what would be deleted, delete nothing, take no lock. */
  dryRun?: boolean | undefined
  /** See `DEFAULT_ORPHAN_GRACE_MS`. */
  orphanGraceMs?: number | undefined
  /** See `DEFAULT_MACHINE_RETENTION_MS`. */
  machineRetentionMs?: number | undefined
  /** Take the deploy lock over even when another publisher holds it. */
  force?: boolean | undefined
  reporter?: Reporter | undefined
  /** The clock (tests). */
  now?: Date | undefined
}

/** Why an upgrade is kept. */
export type KeepReason = 'stable' | 'candidate' | 'recent' | 'machine' | 'rollback' | 'cold'

export interface KeptUpgrade {
  upgradeId: string
  version: string
  reasons: KeepReason[]
}

export interface GcOutcome {
  dryRun: boolean
  kept: KeptUpgrade[]
  /** Keys deleted (or, on a dry run, that would be): history entries, result objects, artifacts, records of machines gone. */
  deleted: { history: string[]; results: string[]; artifacts: string[]; machines: string[] }
  /** Artifacts nothing names, left alone until their grace is over. */
  waiting: { key: string; since: string; deletableAt: string }[]
  /** Objects under the app's prefix before, and after (the same on a dry run, minus what it would delete). */
  objectsBefore: number
  objectsAfter: number
  durationMs: number
}

/** `gc.json`: since when each unreferenced artifact has been seen by gc. */
interface GcState {
  schema: 1
  orphans: Record<string, string>
}

function parseGcState(body: unknown): GcState {
  const value = JSON.parse(new TextDecoder().decode(body as Uint8Array)) as Partial<GcState> | null
  const orphans: Record<string, string> = {}
  if (value && typeof value.orphans === 'object' && value.orphans !== null) {
    for (const [key, since] of Object.entries(value.orphans))
      if (typeof since === 'string' && !Number.isNaN(Date.parse(since))) orphans[key] = since
  }
  return { schema: 1, orphans }
}

/** A gc state that cannot be read starts over: that only delays deletions, never hastens them. */
async function readGcState(storage: Storage, keys: RelupKeys): Promise<GcState> {
  const read = await readDocument(storage, keys.gc, parseGcState).catch((error: unknown) => {
    if (error instanceof DocumentError || error instanceof SyntaxError) return null
    throw error
  })
  return read?.status === 'ok' ? read.document : { schema: 1, orphans: {} }
}

/**
 * Every document under `prefix` that parses; a malformed one is skipped (left alone). Any other
 * failure throws: a plan made on a partial read could drop what an unread document keeps.
 */
async function readAll<T>(storage: Storage, prefix: string, parse: (input: unknown, key?: string) => T) {
  const documents: { key: string; document: T }[] = []
  for await (const item of listAll(storage, prefix)) {
    const read = await readDocument(storage, item.key, parse).catch((error: unknown) => {
      if (error instanceof DocumentError) return null
      throw error
    })
    if (read?.status === 'ok') documents.push({ key: item.key, document: read.document })
  }
  return documents
}

/** Every readable history entry stored under its own upgrade id, oldest first. */
async function readHistory(storage: Storage, keys: RelupKeys): Promise<HotUpgrade[]> {
  return (await readAll(storage, keys.historyPrefix, parseHotUpgrade))
    .filter(({ key, document }) => keys.history(document.upgradeId) === key)
    .map(({ document }) => document)
    .sort((a, b) => (a.upgradeId < b.upgradeId ? -1 : a.upgradeId > b.upgradeId ? 1 : 0))
}

interface Plan {
  kept: KeptUpgrade[]
  deleted: GcOutcome['deleted']
  waiting: GcOutcome['waiting']
  /** The orphan marks to remember after this run. */
  orphans: Record<string, string>
  objectsBefore: number
}

/** What to keep and delete, read from storage; writes nothing. */
async function plan(storage: Storage, keys: RelupKeys, options: GcOptions, now: Date): Promise<Plan> {
  const keep = options.keep ?? DEFAULT_KEEP
  const graceMs = options.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS
  // A corrupt pointer throws (its message says to run `relup repair`, which needs the history).
  const pointer = (await readPointer(storage, keys))?.pointer ?? null
  // So does a corrupt cold pointer: gc would not know which cold releases `relup run` machines need.
  const cold = await readDocument(storage, coldKey(keys), parseColdPointer)
  const coldReleases = cold.status === 'ok' ? [cold.document.release, ...cold.document.previous] : []
  const history = await readHistory(storage, keys)
  const records = await readAll(storage, keys.machinesPrefix, parseMachineRecord)
  const machines = records.map((r) => r.document)
  const byId = new Map(history.map((h) => [h.upgradeId, h]))

  const kept = new Map<string, { upgrade: HotUpgrade | null; version?: string; reasons: Set<KeepReason> }>()
  const keepUpgrade = (upgradeId: string, upgrade: HotUpgrade | null, reason: KeepReason) => {
    const entry = kept.get(upgradeId) ?? {
      upgrade: upgrade ?? byId.get(upgradeId) ?? null,
      reasons: new Set(),
    }
    entry.upgrade ??= upgrade
    entry.reasons.add(reason)
    kept.set(upgradeId, entry)
  }
  const hot = pointer?.hot ?? null
  if (hot) keepUpgrade(hot.upgradeId, hot, 'stable')
  if (pointer?.candidate)
    keepUpgrade(pointer.candidate.upgrade.upgradeId, pointer.candidate.upgrade, 'candidate')
  for (const h of history.slice(-Math.max(1, keep))) keepUpgrade(h.upgradeId, h, 'recent')
  const live = machines.filter((m) => isMachineRecent(m, now))
  for (const m of live) if (m.upgradeId) keepUpgrade(m.upgradeId, null, 'machine')
  // What `relup rollback` without --to goes back to: the newest other artifact on the pointer's base.
  if (hot) {
    const target = history
      .filter(
        (h) =>
          h.baseRef === hot.baseRef &&
          h.upgradeId < hot.upgradeId &&
          h.artifact.sha256 !== hot.artifact.sha256,
      )
      .at(-1)
    if (target) keepUpgrade(target.upgradeId, target, 'rollback')
  }

  const keptArtifacts = new Set<string>()
  for (const { upgrade } of kept.values()) if (upgrade) keptArtifacts.add(upgrade.artifact.key)
  // Cold releases (`cold.json`): the one `relup run` machines run and those its rollback offers.
  for (const release of coldReleases) {
    if (!release) continue
    kept.set(release.releaseId, { upgrade: null, version: release.version, reasons: new Set(['cold']) })
    keptArtifacts.add(release.artifact.key)
  }
  // A live machine whose upgrade has no history entry any more (removed by hand): keep every
  // artifact of its version rather than guess which one it runs.
  const keptVersions = live
    .filter((m) => m.upgradeId && m.version && !kept.get(m.upgradeId)?.upgrade)
    .map((m) => `${keys.artifactsPrefix}${m.version}-`)
  const isKept = (key: string) => keptArtifacts.has(key) || keptVersions.some((p) => key.startsWith(p))
  const named = new Set(history.map((h) => h.artifact.key))

  const deleted: GcOutcome['deleted'] = { history: [], results: [], artifacts: [], machines: [] }
  const silentSince = now.getTime() - (options.machineRetentionMs ?? DEFAULT_MACHINE_RETENTION_MS)
  for (const { key, document } of records)
    if (Date.parse(document.updatedAt) < silentSince) deleted.machines.push(key)
  let objectsBefore = 0
  for (const h of history) if (!kept.has(h.upgradeId)) deleted.history.push(keys.history(h.upgradeId))
  for await (const item of listAll(storage, keys.resultsPrefix)) {
    const upgradeId = item.key.slice(keys.resultsPrefix.length).split('/')[0]!
    if (!kept.has(upgradeId)) deleted.results.push(item.key)
  }

  const state = await readGcState(storage, keys)
  const orphans: Record<string, string> = {}
  const waiting: GcOutcome['waiting'] = []
  for await (const item of listAll(storage, keys.artifactsPrefix)) {
    if (isKept(item.key)) continue
    if (named.has(item.key)) {
      // Named only by history entries removed now: all older than every kept publish.
      deleted.artifacts.push(item.key)
      continue
    }
    const since = state.orphans[item.key] ?? now.toISOString()
    const deletableAt = new Date(Date.parse(since) + graceMs)
    if (deletableAt.getTime() <= now.getTime()) deleted.artifacts.push(item.key)
    else {
      orphans[item.key] = since
      waiting.push({ key: item.key, since, deletableAt: deletableAt.toISOString() })
    }
  }
  for await (const _item of listAll(storage, keys.prefix)) objectsBefore++

  return {
    kept: [...kept].map(([upgradeId, { upgrade, version, reasons }]) => ({
      upgradeId,
      version: upgrade?.version ?? version ?? '?',
      reasons: [...reasons],
    })),
    deleted,
    waiting,
    orphans,
    objectsBefore,
  }
}

async function deleteAll(storage: Storage, keysToDelete: string[]): Promise<void> {
  await mapConcurrently(keysToDelete, DELETE_CONCURRENCY, (key) => storage.delete(key))
}

/**
 * Apply the retention policy (see the top of this file). On a dry run nothing is written and no
 * lock is taken. Otherwise the deploy lock is held throughout: a `LockHeldError` when another
 * publisher has it (unless `force`). Results go first, then history entries, then artifacts, so
 * an interrupted run never leaves a history entry whose artifact is gone.
 */
export async function gc(options: GcOptions): Promise<GcOutcome> {
  const started = performance.now()
  const { storage, app, reporter } = options
  const keys = relupKeys(app, { prefix: options.prefix })
  const now = options.now ?? new Date()
  if (options.keep !== undefined && (!Number.isInteger(options.keep) || options.keep < 1))
    throw new ConfigError('keep', `keep takes a whole number of publishes of at least 1, got ${options.keep}`)
  const retention = options.machineRetentionMs
  if (retention !== undefined && !(Number.isFinite(retention) && retention >= 60 * 60_000))
    throw new ConfigError(
      'machineRetentionMs',
      `machineRetentionMs takes at least an hour (live machines rewrite their record every 10 minutes at most), got ${retention}`,
    )
  const finish = (p: Plan, dryRun: boolean): GcOutcome => {
    const { history, results, artifacts, machines } = p.deleted
    const count = history.length + results.length + artifacts.length + machines.length
    return {
      dryRun,
      kept: p.kept,
      deleted: p.deleted,
      waiting: p.waiting,
      objectsBefore: p.objectsBefore,
      objectsAfter: p.objectsBefore - count,
      durationMs: performance.now() - started,
    }
  }
  if (options.dryRun) return finish(await plan(storage, keys, options, now), true)

  requireCapabilities(storage)
  const lock = await acquireLock(storage, keys, {
    app,
    purpose: 'gc',
    ttlMs: GC_LOCK_TTL_MS,
    force: options.force ?? false,
  })
  try {
    const p = await plan(storage, keys, options, now)
    await verifyLock(storage, keys, app, lock, 'Nothing was deleted.')
    await deleteAll(storage, p.deleted.results)
    await deleteAll(storage, p.deleted.history)
    await deleteAll(storage, p.deleted.artifacts)
    await deleteAll(storage, p.deleted.machines)
    await writeDocument(storage, keys.gc, { schema: 1, orphans: p.orphans } satisfies GcState)
    const { history, results, artifacts, machines } = p.deleted
    reporter?.step?.(
      `gc: removed ${history.length} history entr${history.length === 1 ? 'y' : 'ies'}, ${results.length} result(s), ${artifacts.length} artifact(s) and ${machines.length} record(s) of machines gone; kept ${p.kept.length} upgrade(s)`,
    )
    return finish(p, false)
  } finally {
    await releaseLock(storage, keys, lock).catch(() => {}) // it expires on its own
  }
}

/**
 * Under the deploy lock, before a publish moves the pointer: its artifact must still be stored (a
 * gc may have removed a reused one between the check before the lock and the lock). One read of
 * its first bytes, not a second sha256 pass.
 */
export async function requireStoredArtifact(
  storage: Storage,
  artifact: ArtifactRef,
  app: string,
): Promise<void> {
  const got = await storage.getStream(artifact.key)
  if (got.status === 'ok') {
    got.body.destroy()
    return
  }
  throw new ArtifactGoneError(app, artifact.key)
}

/** What `publish` does with `gc` once it is done: the policy, and a failure as a warning, never a failed publish. */
export async function gcAfterPublish(
  options: Pick<GcOptions, 'storage' | 'app' | 'prefix' | 'reporter'>,
  setting: boolean | { keep?: number | undefined } | undefined,
  warn: (message: string) => void,
): Promise<void> {
  if (setting === false) return
  const keep = typeof setting === 'object' ? setting.keep : undefined
  await gc({ ...options, keep }).catch((error: unknown) => {
    // This publish could not release its own lock (it already warned): nothing more to say.
    if (error instanceof LockHeldError && error.lock.pid === process.pid && error.lock.host === hostname())
      return
    warn(
      `retention after publish did not run (${(error as Error).message}); the publish itself is done. ` +
        `Run \`relup gc --app ${options.app}\` later, or publish with --no-gc to skip it`,
    )
  })
}
