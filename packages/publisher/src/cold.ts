/**
 * Cold releases: the app's whole built output with its production dependencies, packed and
 * published for the fleet's supervisors (`relup run --app`), which start it as a new process
 * beside the old one. A machine needs nothing but the storage to take it (no registry at upgrade
 * time): the directory must already hold its `node_modules` (`npm ci --omit=dev`, `pnpm deploy
 * --prod`). Same artifact format, integrity and lock as a hot upgrade; the pointer is
 * `cold.json` (see @relup/core's `ColdPointer`), moved with compare-and-swap.
 */
import { createReadStream, existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { type KeyInput, pack, signColdRelease } from '@relup/artifact'
import {
  COLD_HISTORY,
  type ColdPointer,
  type ColdRelease,
  coldKey,
  listAll,
  type MachineResult,
  type NoticeReason,
  type Notifier,
  newUpgradeId,
  parseColdPointer,
  parseMachineResult,
  RelupError,
  type RelupKeys,
  readDocument,
  relupKeys,
  type Storage,
  writeDocument,
} from '@relup/core'
import { announceMove } from './announce.js'
import { requireStoredArtifact } from './gc.js'
import { acquireLock, releaseLock, whoAmI } from './lock.js'
import { planPublish } from './publishPlan.js'

/** A directory that cannot be a cold release, or a cold pointer that moved under the publisher. */
export class ColdReleaseError extends RelupError {
  static readonly code = 'ERR_RELUP_COLD_RELEASE'

  constructor(message: string) {
    super(ColdReleaseError.code, message)
  }
}

export interface PublishColdOptions {
  storage: Storage
  app: string
  prefix?: string | undefined
  /** The app's built output with its production `node_modules`. */
  dir: string
  /** Default: `<dir>/package.json` version, else `cold-<sha12>`. */
  version?: string | undefined
  /** What starts it, run in the release directory (e.g. `['node', 'server.js']`). */
  command: string[]
  /** Why it is cold, recorded in the release and printed by machines. */
  reason: string
  lockTtlMs?: number | undefined
  force?: boolean | undefined
  /** Ed25519 private key: supervisors with trusted keys refuse an unsigned release. */
  sign?: KeyInput | undefined
  /** Told once `cold.json` moved, so supervisors with the same notifier read it at once (a failed announce is a warning). */
  notifier?: Notifier | undefined
  /** Where a warning goes (a failed announce). */
  warn?: ((message: string) => void) | undefined
}

/** Every dependency of `<dir>/package.json` must be installed in `<dir>/node_modules`. */
export async function missingDependencies(dir: string): Promise<string[]> {
  const manifest = join(dir, 'package.json')
  if (!existsSync(manifest)) return []
  const pkg = JSON.parse(await readFile(manifest, 'utf8')) as { dependencies?: Record<string, string> }
  return Object.keys(pkg.dependencies ?? {}).filter(
    (name) => !existsSync(join(dir, 'node_modules', name, 'package.json')),
  )
}

export async function publishCold(options: PublishColdOptions): Promise<ColdRelease> {
  const keys = relupKeys(options.app, { prefix: options.prefix })
  return withColdRelease(options, keys, async (release) => {
    await lockedColdMove(options, keys, `publish cold ${release.version}`, 'publish', (current) => ({
      release,
      previous: current?.release ? [current.release, ...current.previous] : (current?.previous ?? []),
      candidate: null,
      badReleases: current?.badReleases,
    }))
    return release
  })
}

/**
 * Pack `options.dir`, upload its artifact (content-addressed: the same bytes may be there
 * already) and make the release of it; `fn` moves the pointer. The packed file is removed after.
 */
export async function withColdRelease<T>(
  options: PublishColdOptions,
  keys: RelupKeys,
  fn: (release: ColdRelease) => Promise<T>,
): Promise<T> {
  const missing = await missingDependencies(options.dir)
  if (missing.length > 0)
    throw new ColdReleaseError(
      `${options.dir} lacks its production dependencies (${missing.join(', ')} not in node_modules): ` +
        'a machine takes a cold release from storage alone. Install them in it first ' +
        '(`npm ci --omit=dev`, or `pnpm deploy --prod <dir>`), then publish again.',
    )
  const artifact = await pack(options.dir, { limits: { maxEntries: 100_000 } })
  try {
    const version =
      options.version ?? (await versionOf(options.dir)) ?? `cold-${artifact.sha256.slice(0, 12)}`
    const key = keys.artifact(`cold-${version}`, artifact.sha256)
    // Content-addressed: the same bytes under the same key may be there already, and that is fine.
    await options.storage.put(key, createReadStream(artifact.path), {
      ifNoneMatch: '*',
      contentLength: artifact.size,
      contentType: 'application/gzip',
    })
    const release = newColdRelease(
      {
        version,
        artifact: { key, sha256: artifact.sha256, size: artifact.size },
        command: options.command,
        reason: options.reason,
      },
      options.sign,
    )
    return await fn(release)
  } finally {
    await rm(artifact.path, { force: true })
  }
}

/** A new release (its own id, now, who publishes), signed when a key is given. */
function newColdRelease(
  fields: Pick<ColdRelease, 'version' | 'artifact' | 'command' | 'reason'>,
  sign: KeyInput | undefined,
): ColdRelease {
  const release: ColdRelease = {
    releaseId: newUpgradeId(),
    ...fields,
    publishedAt: new Date().toISOString(),
    publishedBy: whoAmI(),
  }
  return sign ? signColdRelease(release, sign) : release
}

/**
 * Point the fleet back at the previous cold release: a new release (new id, so its results are
 * its own and machines start it as a new process; signed again when asked) with the previous
 * one's artifact, command and version. Throws when there is none.
 */
export async function rollbackCold(
  options: Omit<PublishColdOptions, 'dir' | 'version' | 'command' | 'reason'>,
): Promise<ColdRelease> {
  const keys = relupKeys(options.app, { prefix: options.prefix })
  let target: ColdRelease | null = null
  await lockedColdMove(options, keys, 'rollback cold', 'rollback', (current) => {
    const [previous, ...older] = current?.previous ?? []
    if (!previous)
      throw new ColdReleaseError(
        `no earlier cold release of ${options.app} to roll back to; publish the one you want with relup publish --cold`,
      )
    target = newColdRelease(
      {
        version: previous.version,
        artifact: previous.artifact,
        command: previous.command,
        reason: `rollback to ${previous.version} (release ${previous.releaseId})`,
      },
      options.sign,
    )
    // A rollback goes to every machine at once: a rollout in progress ends with it.
    return { release: target, previous: older, candidate: null, badReleases: current?.badReleases }
  })
  return target as unknown as ColdRelease
}

/** Machine results of a cold release, as they are now. */
export async function coldResults(
  storage: Storage,
  keys: RelupKeys,
  releaseId: string,
): Promise<MachineResult[]> {
  const results: MachineResult[] = []
  for await (const item of listAll(storage, keys.results(releaseId))) {
    const read = await readDocument(storage, item.key, parseMachineResult)
    if (read.status === 'ok') results.push(read.document)
  }
  return results
}

/** What a move of `cold.json` sets: everything but its seq and time. */
export type ColdMove = Omit<ColdPointer, 'schema' | 'seq' | 'updatedAt'>

/** Options of the moves of `cold.json` that take the lock themselves. */
type LockedMoveOptions = Pick<PublishColdOptions, 'storage' | 'app' | 'lockTtlMs' | 'force' | 'notifier'> & {
  warn?: ((message: string) => void) | undefined
}

/** Take the lock, move `cold.json`, release the lock, and ring the notifier (if any). */
async function lockedColdMove(
  options: LockedMoveOptions,
  keys: RelupKeys,
  purpose: string,
  reason: NoticeReason,
  next: (current: ColdPointer | null) => ColdMove,
): Promise<ColdPointer> {
  const held = await acquireLock(options.storage, keys, {
    app: options.app,
    purpose,
    ttlMs: options.lockTtlMs ?? 120_000,
    force: options.force ?? false,
  })
  let written: ColdPointer
  try {
    written = await moveColdPointer(options.storage, keys, purpose, next, options.app)
  } finally {
    await releaseLock(options.storage, keys, held)
  }
  await announceMove(options.notifier, coldKey(keys), written, reason, options.warn ?? (() => {}))
  return written
}

/**
 * Move `cold.json` with compare-and-swap; the caller holds the lock. Throws a `ColdReleaseError`
 * when it changed meanwhile (nothing is moved then).
 */
export async function moveColdPointer(
  storage: Storage,
  keys: RelupKeys,
  purpose: string,
  next: (current: ColdPointer | null) => ColdMove,
  app: string,
): Promise<ColdPointer> {
  const key = coldKey(keys)
  const read = await readDocument(storage, key, parseColdPointer)
  const current = read.status === 'ok' ? read.document : null
  const moved = next(current)
  // Under the lock, as a hot publish does: a gc may have removed a reused artifact meanwhile.
  if (moved.release) await requireStoredArtifact(storage, moved.release.artifact, app)
  if (moved.candidate) await requireStoredArtifact(storage, moved.candidate.release.artifact, app)
  const document: ColdPointer = {
    schema: 1,
    seq: (current?.seq ?? 0) + 1,
    release: moved.release,
    previous: moved.previous.slice(0, COLD_HISTORY),
    updatedAt: new Date().toISOString(),
    ...(moved.candidate ? { candidate: moved.candidate } : {}),
    ...(moved.badReleases?.length ? { badReleases: moved.badReleases } : {}),
  }
  const written = await writeDocument(
    storage,
    key,
    document,
    read.status === 'ok' ? { ifMatch: read.etag } : { ifNoneMatch: '*' },
  )
  if (written.status !== 'ok')
    throw new ColdReleaseError(
      `${key} changed while ${purpose} ran (another publisher without the lock?); nothing was moved: run it again`,
    )
  return document
}

async function versionOf(dir: string): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' && pkg.version !== '' ? pkg.version : undefined
  } catch {
    return undefined
  }
}

/**
 * Why a hot upgrade of `hotDir` would be refused by the machines as restart-required, so that it
 * must go as a cold release: a native addon added, changed or removed (or required by a module
 * the upgrade evaluates again), or a host package (a dependency the hot code imports) at another
 * version than the one the machines run (the pointer's hot upgrade on the same base says which).
 * Empty when a hot upgrade would do; other problems (a syntax error) are left for the hot publish
 * to report. `planPublish` says the same, compares the cold entry too, and keeps the checks for
 * the publish.
 */
export async function reasonsForCold(
  storage: Storage,
  app: string,
  prefix: string | undefined,
  hotDir: string,
  /** The base the hot upgrade is for, when not the pointer's: then no release of it is known. */
  baseRef?: string | undefined,
): Promise<string[]> {
  return (await planPublish({ storage, app, prefix, dir: hotDir, baseRef })).reasons
}
