/**
 * `current.json`, the pointer: which cold build (`baseRef`) the fleet runs and which hot
 * upgrade, if any, applies on top of it. Every write is a compare-and-swap, and the
 * constructors below are the only ways relup changes it.
 */
import { DocumentError } from './errors.js'
import { newToken, newUpgradeId } from './ids.js'
import { type ModuleManifest, moduleManifestSchema } from './manifest.js'
import { isoDate, nonEmpty, sha256Hex } from './patterns.js'
import { type Rollout, type RolloutCandidate, rolloutSchema } from './rollout.js'
import {
  array,
  literal,
  nullable,
  number,
  object,
  optional,
  parseWith,
  type Schema,
  string,
} from './schema.js'

/** How many earlier bases the pointer remembers, newest first. */
export const PREVIOUS_BASES_LIMIT = 20

export interface ArtifactRef {
  key: string
  sha256: string
  size: number
}

export interface UpgradeSignature {
  alg: 'ed25519'
  /** Identifies the public key (see `keyIdOf` in @relup/artifact): lets machines rotate keys. */
  keyId: string
  /** base64 signature over `signingPayload(hot)`. */
  value: string
}

export interface HotUpgrade {
  version: string
  /** Unique per publish (a rollback is a new publish): names the results folder. */
  upgradeId: string
  /** What the hot code was built from (a commit, an image ref, or the artifact hash). */
  sourceRef: string
  /** The cold build this upgrade applies to. */
  baseRef: string
  artifact: ArtifactRef
  manifest: ModuleManifest
  publishedAt: string
  publishedBy: string
  signature?: UpgradeSignature | undefined
}

export interface CurrentPointer {
  schema: 1
  app: string
  baseRef: string
  /** Bases this pointer has moved away from, newest first: machines still on them are an older generation. */
  previousBases: string[]
  hot: HotUpgrade | null
  /** Incremented by every write; a machine never goes back to a lower seq of the same lineage. */
  seq: number
  setAt: string
  setBy: string
  /**
   * Random, chosen when the pointer is created and kept by every later write: a pointer deleted
   * and created again (a new lineage) starts over at seq 1, and machines follow it instead of
   * ignoring it as a stale read. Absent on pointers written before relup 0.1.
   */
  lineage?: string | undefined
  /**
   * The content digest (`manifestDigest`) of the base release the machine that wrote this base
   * booted from: a base rebuilt under the same `baseRef` is told apart from the fleet's. Null or
   * absent when unknown (written by a publisher, or by an engine that does not report it).
   */
  baseDigest?: string | null | undefined
  /**
   * During a staged rollout: the upgrade machines of the current wave run instead of `hot` (which
   * stays the stable release everyone else runs), with its plan and wave. Absent or null: no
   * rollout. Machines older than rollouts ignore it and run `hot`, then follow once it is promoted.
   */
  candidate?: RolloutCandidate | null | undefined
  /** Upgrade ids a rollout halted on (newest first, at most `BAD_UPGRADES_LIMIT`): no machine applies them again. */
  badUpgrades?: string[] | undefined
}

/** How many halted upgrade ids the pointer remembers. */
export const BAD_UPGRADES_LIMIT = 20

export const hotUpgradeSchema: Schema<HotUpgrade> = object<HotUpgrade>({
  version: nonEmpty,
  upgradeId: string({ pattern: /^[A-Za-z0-9._-]{1,64}$/, what: 'an id of letters, digits, ".", "_" or "-"' }),
  sourceRef: nonEmpty,
  baseRef: nonEmpty,
  artifact: object<ArtifactRef>({
    key: nonEmpty,
    sha256: sha256Hex,
    size: number({ integer: true, min: 0 }),
  }),
  manifest: moduleManifestSchema,
  publishedAt: isoDate,
  publishedBy: string(),
  signature: optional(
    object<UpgradeSignature>({ alg: literal('ed25519'), keyId: nonEmpty, value: nonEmpty }),
  ),
})

export const currentPointerSchema: Schema<CurrentPointer> = object<CurrentPointer>({
  schema: literal(1),
  app: nonEmpty,
  baseRef: nonEmpty,
  previousBases: array(nonEmpty),
  hot: nullable(hotUpgradeSchema),
  seq: number({ integer: true, min: 0 }),
  setAt: isoDate,
  setBy: string(),
  lineage: optional(
    string({ pattern: /^[A-Za-z0-9_-]{8,64}$/, what: 'a random id of 8-64 url-safe characters' }),
  ),
  baseDigest: optional(nullable(string({ pattern: /^[0-9a-f]{12,64}$/, what: 'a hex digest' }))),
  candidate: optional(
    nullable(object<RolloutCandidate>({ upgrade: hotUpgradeSchema, rollout: rolloutSchema })),
  ),
  badUpgrades: optional(array(nonEmpty)),
})

export function parseCurrentPointer(input: unknown, key?: string): CurrentPointer {
  const pointer = parseWith(currentPointerSchema, input, { document: 'current pointer', key })
  if (pointer.candidate && pointer.candidate.upgrade.baseRef !== pointer.baseRef) {
    throw new DocumentError({
      document: 'current pointer',
      key,
      field: 'candidate.upgrade.baseRef',
      problem: `must equal baseRef "${pointer.baseRef}", got "${pointer.candidate.upgrade.baseRef}"`,
    })
  }
  if (pointer.hot && pointer.hot.baseRef !== pointer.baseRef) {
    throw new DocumentError({
      document: 'current pointer',
      key,
      field: 'hot.baseRef',
      problem: `must equal baseRef "${pointer.baseRef}", got "${pointer.hot.baseRef}"`,
    })
  }
  return pointer
}

/** What a publisher says about a new hot upgrade; the id and the time are given to it here. */
export type HotUpgradeFields = Omit<HotUpgrade, 'upgradeId' | 'publishedAt' | 'signature'> & {
  upgradeId?: string | undefined
  publishedAt?: string | undefined
}

/**
 * A new hot upgrade: a fresh time-sortable `upgradeId` (each publish and each rollback gets its
 * own, naming its results folder) and `publishedAt` now, unless given. Validated, so a publisher
 * can never write an upgrade machines would refuse to parse. Sign it afterwards.
 */
export function newHotUpgrade(fields: HotUpgradeFields, now: Date = new Date()): HotUpgrade {
  const { signature: _dropped, ...rest } = fields as HotUpgradeFields & { signature?: unknown }
  const hot: HotUpgrade = {
    ...rest,
    upgradeId: fields.upgradeId ?? newUpgradeId(now.getTime()),
    publishedAt: fields.publishedAt ?? now.toISOString(),
  }
  return parseHotUpgrade(hot)
}

export function parseHotUpgrade(input: unknown, key?: string): HotUpgrade {
  return parseWith(hotUpgradeSchema, input, { document: 'hot upgrade', key })
}

interface WriteContext {
  now?: Date | undefined
  setBy: string
}

interface BaseContext extends WriteContext {
  /** `manifestDigest` of the base release of the machine writing it; null when unknown. */
  baseDigest?: string | null | undefined
}

/** The first pointer of an app (a new lineage), written by the first machine that boots (create-only). */
export function initialPointer(app: string, baseRef: string, context: BaseContext): CurrentPointer {
  return {
    schema: 1,
    app,
    baseRef,
    previousBases: [],
    hot: null,
    seq: 1,
    setAt: (context.now ?? new Date()).toISOString(),
    setBy: context.setBy,
    lineage: newToken().slice(0, 16),
    baseDigest: context.baseDigest ?? null,
  }
}

/**
 * Whether `read` is an out-of-date copy of what this machine already knows (an eventually
 * consistent replica answering with an older write): lower seq, same lineage. A pointer of
 * another lineage was deleted and created again; it is followed whatever its seq.
 */
export function isStaleRead(known: CurrentPointer, read: CurrentPointer): boolean {
  return read.seq < known.seq && read.lineage === known.lineage
}

/**
 * A cold deploy: `baseRef` becomes the pointer's base, with no hot upgrade. The old base goes
 * to the front of `previousBases`, so machines still on it skip upgrades instead of resetting
 * the pointer backwards.
 */
export function resetPointer(pointer: CurrentPointer, baseRef: string, context: BaseContext): CurrentPointer {
  const previousBases = [pointer.baseRef, ...pointer.previousBases.filter((b) => b !== pointer.baseRef)]
    .filter((b) => b !== baseRef)
    .slice(0, PREVIOUS_BASES_LIMIT)
  return {
    ...pointer,
    baseRef,
    previousBases,
    hot: null,
    candidate: null,
    seq: pointer.seq + 1,
    setAt: (context.now ?? new Date()).toISOString(),
    setBy: context.setBy,
    baseDigest: context.baseDigest ?? null,
  }
}

/** A rollout starts: `upgrade` is the candidate of the first wave, `hot` stays the stable release. */
export function withCandidate(
  pointer: CurrentPointer,
  upgrade: HotUpgrade,
  rollout: Rollout,
  context: WriteContext,
): CurrentPointer {
  return stamp({ ...pointer, candidate: { upgrade, rollout } }, pointer, context)
}

/** The rollout moves on (a wider wave, paused, resumed): the same candidate, its new rollout state. */
export function withRollout(
  pointer: CurrentPointer,
  rollout: Rollout,
  context: WriteContext,
): CurrentPointer {
  if (!pointer.candidate) throw new Error('withRollout: the pointer has no candidate')
  return stamp({ ...pointer, candidate: { ...pointer.candidate, rollout } }, pointer, context)
}

/** The last wave passed: the candidate becomes the stable release of the whole fleet. */
export function promoteCandidate(pointer: CurrentPointer, context: WriteContext): CurrentPointer {
  if (!pointer.candidate) throw new Error('promoteCandidate: the pointer has no candidate')
  return stamp({ ...pointer, hot: pointer.candidate.upgrade, candidate: null }, pointer, context)
}

/**
 * The rollout ends without promotion (halted on a failure, or aborted): machines of its waves go
 * back to the stable release. `bad`: the upgrade is remembered so no machine applies it again.
 */
export function withoutCandidate(
  pointer: CurrentPointer,
  options: { bad: boolean },
  context: WriteContext,
): CurrentPointer {
  const id = pointer.candidate?.upgrade.upgradeId
  const badUpgrades =
    options.bad && id
      ? [id, ...(pointer.badUpgrades ?? []).filter((b) => b !== id)].slice(0, BAD_UPGRADES_LIMIT)
      : pointer.badUpgrades
  return stamp({ ...pointer, candidate: null, ...(badUpgrades ? { badUpgrades } : {}) }, pointer, context)
}

function stamp(next: CurrentPointer, previous: CurrentPointer, context: WriteContext): CurrentPointer {
  return {
    ...next,
    seq: previous.seq + 1,
    setAt: (context.now ?? new Date()).toISOString(),
    setBy: context.setBy,
  }
}

/** Back to the base code (`relup rollback --to base`): same base, no hot upgrade. */
export function withoutHotUpgrade(pointer: CurrentPointer, context: WriteContext): CurrentPointer {
  return {
    ...pointer,
    hot: null,
    candidate: null,
    seq: pointer.seq + 1,
    setAt: (context.now ?? new Date()).toISOString(),
    setBy: context.setBy,
  }
}

/** Point the fleet at a hot upgrade (publish and rollback). The upgrade's base becomes the pointer's base. */
export function withHotUpgrade(
  pointer: CurrentPointer,
  hot: HotUpgrade,
  context: WriteContext,
): CurrentPointer {
  const moved = hot.baseRef === pointer.baseRef ? pointer : resetPointer(pointer, hot.baseRef, context)
  return {
    ...moved,
    hot,
    candidate: null,
    seq: pointer.seq + 1,
    setAt: (context.now ?? new Date()).toISOString(),
    setBy: context.setBy,
  }
}
