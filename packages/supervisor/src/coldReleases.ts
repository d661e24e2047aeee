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
  parseMachineResult,
  RelupError,
  readDocument,
  relupKeys,
  type Storage,
  SUPERVISED_ENV,
  writeDocument,
} from '@relup/core'
import type { Release } from './appProcess.js'

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

/** This machine's result for `releaseId` as stored, or null. */
export async function readResult(
  source: ColdReleaseSource,
  releaseId: string,
): Promise<MachineResult | null> {
  const keys = relupKeys(source.app, { prefix: source.prefix })
  const read = await readDocument(
    source.storage,
    keys.result(releaseId, source.machineId),
    parseMachineResult,
  )
  return read.status === 'ok' ? read.document : null
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

export function asRelupError(error: unknown): RelupError {
  if (isRelupError(error)) return error
  return new RelupError('ERR_RELUP_COLD_RELEASE', error instanceof Error ? error.message : String(error))
}

/** The codes of a release that failed on probation (crashed in its health window, or withdrawn). */
export const UNHEALTHY_CODE = 'ERR_RELUP_UNHEALTHY'
export const WITHDRAWN_CODE = 'ERR_RELUP_ROLLOUT_HALTED'
const PROBATION_CODES = new Set([UNHEALTHY_CODE, WITHDRAWN_CODE])

/** Write this machine's result for `release`. */
export async function writeResult(
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
          phase:
            error.code === 'ERR_RELUP_SIGNATURE'
              ? 'verify'
              : PROBATION_CODES.has(error.code)
                ? 'probation'
                : 'cutover',
        }
      : null,
  }
  await writeDocument(source.storage, keys.result(release.releaseId, source.machineId), result)
}
