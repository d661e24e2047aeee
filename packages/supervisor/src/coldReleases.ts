/**
 * The supervisor's side of cold releases: which release a machine boots (the one `cold.json`
 * names, else the command it was given), and following `cold.json` while it runs — a new release
 * is downloaded, verified and extracted like a hot upgrade (@relup/artifact: sha256 and size,
 * safe extraction), started beside the serving process and cut over to; the machine writes
 * `pending`, then `completed` or `failed`, under `results/<releaseId>/<machineId>.json` (with
 * trusted keys, a release that is not signed by one of them is `failed` before it is downloaded). A release
 * that failed here is never tried again by this supervisor (no retry loop: publish it again under
 * a new id), and one that crashes before it proved itself is reported `failed` after the
 * supervisor went back to the last good release.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { extractArtifact, type KeyInput, verifyColdRelease } from '@relup/artifact'
import {
  type ColdPointer,
  type ColdRelease,
  coldBaseRef,
  coldKey,
  isRelupError,
  type MachineResult,
  parseColdPointer,
  RelupError,
  readDocument,
  relupKeys,
  type Storage,
  SUPERVISED_ENV,
  writeDocument,
} from '@relup/core'
import type { Release } from './appProcess.js'
import { CutoverInProgressError } from './errors.js'
import type { Supervisor } from './supervisor.js'

export interface ColdReleaseSource {
  storage: Storage
  app: string
  prefix?: string | undefined
  machineId: string
  /** Where releases are extracted, one directory each (`<releasesDir>/<releaseId>`). */
  releasesDir: string
  /**
   * Ed25519 public keys (PEM or KeyObject), as the poller's `trustedKeys`: when set, a release
   * that is unsigned or not signed by one of them is refused (reported `failed`, never started).
   */
  trustedKeys?: readonly KeyInput[] | undefined
}

export interface FollowOptions extends ColdReleaseSource {
  supervisor: Supervisor
  /** Default 1000 ms. */
  pollInterval?: number
  /** A line for the operator. */
  say?(line: string): void
}

/** A cold release's artifact is not in storage any more. */
export class ColdArtifactMissingError extends RelupError {
  static readonly code = 'ERR_RELUP_COLD_ARTIFACT_MISSING'

  constructor(release: ColdRelease) {
    super(
      ColdArtifactMissingError.code,
      `the artifact of cold release ${release.version} (${release.artifact.key}) is not in storage; ` +
        'publish it again with relup publish --cold, or roll back with relup rollback --cold',
    )
  }
}

/** Check the signature (with trusted keys), download, verify and extract `release`; resolves with what the supervisor starts. */
export async function obtainRelease(source: ColdReleaseSource, release: ColdRelease): Promise<Release> {
  if (source.trustedKeys?.length) verifyColdRelease(release, source.trustedKeys)
  const dir = join(source.releasesDir, release.releaseId)
  const download = await source.storage.getStream(release.artifact.key)
  if (download.status !== 'ok') throw new ColdArtifactMissingError(release)
  await extractArtifact(download.body, {
    dest: dir,
    sha256: release.artifact.sha256,
    size: release.artifact.size,
    ifExists: 'replace',
    name: `cold ${release.version} (${release.artifact.key})`,
  })
  return {
    id: release.releaseId,
    command: release.command,
    cwd: dir,
    // Its runtime sees a base it never saw: a cold deploy; hot upgrades then apply on top of it.
    env: {
      RELUP_BASE_REF: coldBaseRef(release.releaseId),
      RELUP_COLD_VERSION: release.version,
      [SUPERVISED_ENV.coldRelease]: release.releaseId,
      [SUPERVISED_ENV.coldApp]: source.app,
    },
  }
}

/** `base` (the command the supervisor was given), telling its runtime that cold releases of the app reach it. */
function following(source: ColdReleaseSource, base: Release): Release {
  return { ...base, env: { ...base.env, [SUPERVISED_ENV.coldApp]: source.app } }
}

export async function readColdPointer(source: ColdReleaseSource): Promise<ColdPointer | null> {
  const read = await readDocument(
    source.storage,
    coldKey(relupKeys(source.app, { prefix: source.prefix })),
    parseColdPointer,
  )
  return read.status === 'ok' ? read.document : null
}

/**
 * What a machine boots: the cold release the pointer names (downloaded again, verified), or
 * `base` when there is none or it cannot be obtained (then `failed` is reported for it).
 */
export async function bootRelease(
  source: ColdReleaseSource,
  base: Release,
): Promise<{ release: Release; cold: ColdRelease | null; error: RelupError | null }> {
  let pointer: ColdPointer | null
  try {
    pointer = await readColdPointer(source)
  } catch (error) {
    return { release: following(source, base), cold: null, error: asRelupError(error) }
  }
  if (!pointer?.release) return { release: following(source, base), cold: null, error: null }
  try {
    return { release: await obtainRelease(source, pointer.release), cold: pointer.release, error: null }
  } catch (error) {
    const failure = asRelupError(error)
    await writeResult(source, pointer.release, 'failed', new Date(), failure).catch(() => {})
    return { release: following(source, base), cold: null, error: failure }
  }
}

/** Follow `cold.json` and cut over to each new release. `stop()` ends the polling. */
export function followColdReleases(options: FollowOptions): { stop(): Promise<void> } {
  const key = coldKey(relupKeys(options.app, { prefix: options.prefix }))
  const interval = options.pollInterval ?? 1000
  const say = options.say ?? (() => {})
  const failed = new Set<string>()
  const released = new Map<string, ColdRelease>()
  let etag: string | undefined
  let stopped = false
  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> = Promise.resolve()
  let outage = false

  // A release that crashed before it proved itself, after it was reported completed.
  const unsubscribe = options.supervisor.subscribe((event) => {
    if (event.type !== 'fallback') return
    const release = released.get(event.from)
    if (!release) return
    failed.add(release.releaseId)
    void writeResult(
      options,
      release,
      'failed',
      new Date(),
      new RelupError('ERR_RELUP_COLD_CRASHED', `${event.reason}; the machine went back to ${event.to}`),
    ).catch(() => {})
  })

  const poll = async () => {
    try {
      const read = await readDocument(options.storage, key, parseColdPointer, { ifNoneMatch: etag })
      outage = false
      if (read.status !== 'ok') return
      etag = read.etag
      const release = read.document.release
      // Already serving it (a rollback to where a fallback went), or it failed here: nothing to do.
      if (
        !release ||
        release.releaseId === options.supervisor.current?.release ||
        failed.has(release.releaseId)
      )
        return
      await upgrade(release)
    } catch (error) {
      if (!outage) say(`cannot read ${key}: ${(error as Error).message}; still serving, retrying`)
      outage = true
    }
  }

  const upgrade = async (release: ColdRelease) => {
    const startedAt = new Date()
    say(`cold release ${release.version} (${release.releaseId}): ${release.reason || 'published'}`)
    await writeResult(options, release, 'pending', startedAt, null).catch(() => {})
    let failure: RelupError | null = null
    try {
      const next = await obtainRelease(options, release)
      const result = await options.supervisor.cutover(next).catch((error: unknown) => {
        // Another cutover (a SIGUSR2 reload) runs: not this release's fault; the next poll tries again.
        if (error instanceof CutoverInProgressError) etag = undefined
        throw error
      })
      if (result.status === 'failed') failure = result.error
      else released.set(release.releaseId, release)
    } catch (error) {
      if (error instanceof CutoverInProgressError) return
      failure = asRelupError(error)
      await rm(join(options.releasesDir, release.releaseId), { recursive: true, force: true }).catch(() => {})
    }
    if (failure) failed.add(release.releaseId)
    await writeResult(options, release, failure ? 'failed' : 'completed', startedAt, failure)
    say(
      failure
        ? `cold release ${release.version} failed: ${failure.message}`
        : `now running cold release ${release.version}`,
    )
  }

  const loop = () => {
    if (stopped) return
    running = poll().finally(() => {
      if (!stopped) timer = setTimeout(loop, interval)
    })
  }
  loop()
  return {
    async stop() {
      stopped = true
      unsubscribe()
      if (timer) clearTimeout(timer)
      await running
    },
  }
}

function asRelupError(error: unknown): RelupError {
  if (isRelupError(error)) return error
  return new RelupError('ERR_RELUP_COLD_RELEASE', error instanceof Error ? error.message : String(error))
}

async function writeResult(
  source: ColdReleaseSource,
  release: ColdRelease,
  status: MachineResult['status'],
  startedAt: Date,
  error: RelupError | null,
): Promise<void> {
  const keys = relupKeys(source.app, { prefix: source.prefix })
  const result: MachineResult = {
    schema: 1,
    upgradeId: release.releaseId,
    machineId: source.machineId,
    region: null,
    baseRef: coldBaseRef(release.releaseId),
    version: release.version,
    status,
    attempt: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: status === 'pending' ? null : new Date().toISOString(),
    stats: null,
    error: error
      ? {
          code: error.code,
          message: error.message,
          phase: error.code === 'ERR_RELUP_SIGNATURE' ? 'verify' : 'cutover',
        }
      : null,
  }
  await writeDocument(source.storage, keys.result(release.releaseId, source.machineId), result)
}
