/**
 * `current.json`, the pointer: which cold build (`baseRef`) the fleet runs and which hot
 * upgrade, if any, applies on top of it. Every write is a compare-and-swap, and the
 * constructors below are the only ways relup changes it.
 */
import { DocumentError } from './errors.js'
import { newUpgradeId } from './ids.js'
import { type ModuleManifest, moduleManifestSchema } from './manifest.js'
import { isoDate, nonEmpty, sha256Hex } from './patterns.js'
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
  /** Incremented by every write; a machine never goes back to a lower seq. */
  seq: number
  setAt: string
  setBy: string
}

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
})

export function parseCurrentPointer(input: unknown, key?: string): CurrentPointer {
  const pointer = parseWith(currentPointerSchema, input, { document: 'current pointer', key })
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
  now?: Date
  setBy: string
}

/** The first pointer of an app, written by the first machine that boots (create-only). */
export function initialPointer(app: string, baseRef: string, context: WriteContext): CurrentPointer {
  return {
    schema: 1,
    app,
    baseRef,
    previousBases: [],
    hot: null,
    seq: 1,
    setAt: (context.now ?? new Date()).toISOString(),
    setBy: context.setBy,
  }
}

/**
 * A cold deploy: `baseRef` becomes the pointer's base, with no hot upgrade. The old base goes
 * to the front of `previousBases`, so machines still on it skip upgrades instead of resetting
 * the pointer backwards.
 */
export function resetPointer(
  pointer: CurrentPointer,
  baseRef: string,
  context: WriteContext,
): CurrentPointer {
  const previousBases = [pointer.baseRef, ...pointer.previousBases.filter((b) => b !== pointer.baseRef)]
    .filter((b) => b !== baseRef)
    .slice(0, PREVIOUS_BASES_LIMIT)
  return {
    ...pointer,
    baseRef,
    previousBases,
    hot: null,
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
    seq: pointer.seq + 1,
    setAt: (context.now ?? new Date()).toISOString(),
    setBy: context.setBy,
  }
}
