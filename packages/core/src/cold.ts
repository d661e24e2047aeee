/**
 * `cold.json`: the cold release a fleet's supervisors (`relup run`) run — the app's whole built
 * output with its production dependencies, started as a new process beside the old one. A
 * document of its own beside `current.json`, so that a machine without a supervisor never reads
 * it and keeps running as it did, and the hot pointer keeps its meaning: a cold release boots
 * with its own `baseRef` (`cold-<releaseId>`), which the runtime sees as a cold deploy (the hot
 * pointer is reset for it, and hot upgrades published after it apply on top of it).
 *
 * Results of a cold release are machine results (`results/<releaseId>/<machineId>.json`) with no
 * engine stats. Written with compare-and-swap like the pointer; `previous` (newest first) is what
 * a rollback goes back to.
 *
 * Staged rollouts work as for hot upgrades (see rollout.ts): `release` stays the stable release
 * and, during a rollout, `candidate` holds the new one with the same `Rollout` value; machines
 * whose cohort (of their id and the candidate's `releaseId`) is below the wave's threshold run
 * it. A supervisor older than rollouts ignores `candidate` and keeps running `release`.
 */
import { canonicalJson } from './canonical.js'
import type { RelupKeys } from './keys.js'
import { isoDate, nonEmpty, sha256Hex } from './patterns.js'
import type { UpgradeSignature } from './pointer.js'
import { inWave, type Rollout, rolloutSchema } from './rollout.js'
import {
  array,
  literal,
  nullable,
  number,
  object,
  optional,
  parseWith,
  type Schema,
  SchemaIssue,
  string,
} from './schema.js'

export interface ColdRelease {
  /** Names the release everywhere: results, the machine's release directory, its baseRef. */
  releaseId: string
  version: string
  artifact: { key: string; sha256: string; size: number }
  /** The command that starts it, run in the extracted release directory, e.g. `['node', 'server.js']`. */
  command: string[]
  publishedAt: string
  /** Why it is cold (`--cold`, or the reason a hot upgrade was refused). */
  reason: string
  /** Who published it (absent in releases published before relup recorded it). */
  publishedBy?: string | undefined
  /**
   * Ed25519 over `coldSigningPayload(release)` (everything but the signature, the release id and
   * the artifact's sha256 included): supervisors with trusted keys refuse a release without one.
   */
  signature?: UpgradeSignature | undefined
}

export interface ColdPointer {
  schema: 1
  seq: number
  release: ColdRelease | null
  /** Earlier releases, newest first (at most `COLD_HISTORY`). */
  previous: ColdRelease[]
  updatedAt: string
  /**
   * During a staged rollout: the release machines of the current wave run instead of `release`
   * (the stable one everyone else runs), with its plan and wave. Absent or null: no rollout.
   */
  candidate?: ColdCandidate | null | undefined
  /** Release ids a rollout halted on (newest first, at most `BAD_RELEASES_LIMIT`): no machine starts them again. */
  badReleases?: string[] | undefined
}

/** A cold release on its way through the waves of a staged rollout. */
export interface ColdCandidate {
  release: ColdRelease
  rollout: Rollout
}

export const COLD_HISTORY = 10
/** How many halted cold release ids the pointer remembers. */
export const BAD_RELEASES_LIMIT = 20

/**
 * What `machineId` runs of `pointer`: the candidate when it is in the candidate's wave (and the
 * candidate was not marked bad), else the stable release (null: none, the machine's own command).
 */
export function coldReleaseFor(
  pointer: ColdPointer,
  machineId: string,
): { release: ColdRelease | null; candidate: ColdCandidate | null } {
  const candidate = pointer.candidate
  if (
    candidate &&
    !pointer.badReleases?.includes(candidate.release.releaseId) &&
    inWave(machineId, candidate.release.releaseId, candidate.rollout)
  )
    return { release: candidate.release, candidate }
  return { release: pointer.release, candidate: null }
}

/** `ids` with `releaseId` in front, once, at most `BAD_RELEASES_LIMIT` long. */
export function withBadRelease(ids: readonly string[] | undefined, releaseId: string): string[] {
  return [releaseId, ...(ids ?? []).filter((id) => id !== releaseId)].slice(0, BAD_RELEASES_LIMIT)
}

/** The base ref a process of a cold release boots with: hot upgrades are published against it. */
export const coldBaseRef = (releaseId: string) => `cold-${releaseId}`

export const coldKey = (keys: RelupKeys) => `${keys.prefix}cold.json`

// Its own domain: a hot upgrade's signature never verifies as a cold release's, nor the reverse.
const COLD_SIGNING_DOMAIN = 'relup-cold-release-v1\n'

/** The bytes an Ed25519 signature of a cold release covers: everything but the signature itself. */
export function coldSigningPayload(release: ColdRelease): Uint8Array {
  const { signature: _signature, ...unsigned } = release
  return new TextEncoder().encode(COLD_SIGNING_DOMAIN + canonicalJson(unsigned))
}

const coldReleaseSchema: Schema<ColdRelease> = object<ColdRelease>({
  releaseId: nonEmpty,
  version: nonEmpty,
  artifact: object({ key: nonEmpty, sha256: sha256Hex, size: number({ integer: true, min: 0 }) }),
  command: (value, path) => {
    const command = array(nonEmpty)(value, path)
    if (command.length === 0) throw new SchemaIssue(path, 'must name the program to run, got an empty array')
    return command
  },
  publishedAt: isoDate,
  reason: string(),
  publishedBy: optional(string()),
  signature: optional(
    object<UpgradeSignature>({ alg: literal('ed25519'), keyId: nonEmpty, value: nonEmpty }),
  ),
})

export const coldPointerSchema: Schema<ColdPointer> = object<ColdPointer>({
  schema: literal(1),
  seq: number({ integer: true, min: 0 }),
  release: nullable(coldReleaseSchema),
  previous: array(coldReleaseSchema),
  updatedAt: isoDate,
  candidate: optional(
    nullable(object<ColdCandidate>({ release: coldReleaseSchema, rollout: rolloutSchema })),
  ),
  badReleases: optional(array(nonEmpty)),
})

export function parseColdPointer(input: unknown, key?: string): ColdPointer {
  return parseWith(coldPointerSchema, input, { document: 'cold pointer', key })
}
