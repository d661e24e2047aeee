/**
 * `relup repair`: write a valid pointer again when `current.json` is corrupt or was deleted. The
 * base is the one the live machines run (their records say); the hot upgrade is the newest one
 * published for it whose artifact is still stored intact (`history/` holds every publish). The
 * new pointer is a new lineage, so machines follow it whatever their last seq was; it is written
 * with compare-and-swap against the corrupt object (create-only when there is none).
 */
import {
  ConfigError,
  type CurrentPointer,
  type HotUpgrade,
  initialPointer,
  isMachineRecent,
  type MachineRecord,
  type Notifier,
  PREVIOUS_BASES_LIMIT,
  RelupError,
  relupKeys,
  type Storage,
  writeDocument,
} from '@relup/core'
import { announceMove } from './announce.js'
import { collectWarnings, withLock } from './deploy.js'
import { ArtifactCorruptError } from './errors.js'
import { publishHistory } from './history.js'
import { type ReplacedLock, whoAmI } from './lock.js'
import { readMachineRecords } from './machines.js'
import { type PointerState, readPointerState, verifyPointer } from './pointer.js'
import { checkStoredArtifact, describeCorruption } from './storedArtifact.js'
import type { Reporter } from './types.js'

export interface RepairOptions {
  storage: Storage
  app: string
  prefix?: string | undefined
  /** A published version to point at, or `'base'` for no hot upgrade. Default: the newest intact one. */
  to?: string | undefined
  /** The base to point at. Default: the one the live machines run. */
  baseRef?: string | undefined
  /** Say what would be written, write nothing. */
  dryRun?: boolean | undefined
  /** Rewrite the pointer even when it is valid (to move it to another base or version by hand). */
  force?: boolean | undefined
  lockTtlMs?: number | undefined
  reporter?: Reporter | undefined
  /** Told once the repaired pointer is written (a failed announce is a warning). */
  notifier?: Notifier | undefined
}

/** What a live machine will do once it reads the repaired pointer. */
export type MachineAction = 'keep' | 'apply' | 'back to base' | 'other base'

export interface MachinePlan {
  machineId: string
  baseRef: string
  /** The hot version it runs, or null on base code. */
  runs: string | null
  action: MachineAction
}

export interface RepairOutcome {
  status: 'repaired' | 'dry-run' | 'nothing-to-repair'
  /** What `current.json` was. */
  found: PointerState['status']
  /** Why it was unusable: the malformed document's message. */
  problem: string | null
  /** The pointer written (or, dry-run, to be written; nothing to repair: the one there). */
  pointer: CurrentPointer | null
  /** Where the base came from. */
  baseFrom: 'option' | 'machines' | 'history' | null
  /** Newer upgrades passed over because their artifact is not intact. */
  skipped: { version: string; upgradeId: string; reason: 'artifact missing' | 'artifact corrupt' }[]
  machines: MachinePlan[]
  replacedLock: ReplacedLock | null
  warnings: string[]
}

function chooseBase(options: RepairOptions, live: MachineRecord[], history: HotUpgrade[]) {
  if (options.baseRef) return { baseRef: options.baseRef, baseFrom: 'option' as const }
  const counts = new Map<string, number>()
  for (const m of live) counts.set(m.baseRef, (counts.get(m.baseRef) ?? 0) + 1)
  if (counts.size === 1) return { baseRef: [...counts.keys()][0]!, baseFrom: 'machines' as const }
  if (counts.size > 1) {
    const bases = [...counts].map(([base, n]) => `${base} (${n} machine${n === 1 ? '' : 's'})`).join(', ')
    throw new ConfigError(
      'baseRef',
      `live machines run several bases: ${bases}; pass --base-ref <base> to choose`,
    )
  }
  const newest = history.at(-1)
  if (newest) return { baseRef: newest.baseRef, baseFrom: 'history' as const }
  throw new ConfigError(
    'baseRef',
    `no machine of ${options.app} is live and nothing was ever published: pass --base-ref <base> (or let a machine boot: it writes the pointer)`,
  )
}

/** What each live machine does with `pointer` (a new lineage: followed whatever its seq). */
export function planMachines(pointer: CurrentPointer, live: MachineRecord[]): MachinePlan[] {
  return live.map((m): MachinePlan => {
    const plan = { machineId: m.machineId, baseRef: m.baseRef, runs: m.version }
    if (m.baseRef !== pointer.baseRef) return { ...plan, action: 'other base' }
    if (pointer.hot === null) return { ...plan, action: m.upgradeId === null ? 'keep' : 'back to base' }
    return { ...plan, action: m.upgradeId === pointer.hot.upgradeId ? 'keep' : 'apply' }
  })
}

export async function repair(options: RepairOptions): Promise<RepairOutcome> {
  const { storage, app } = options
  const keys = relupKeys(app, { prefix: options.prefix })
  const warnings = collectWarnings(options.reporter)
  const state = await readPointerState(storage, keys)
  const records = await readMachineRecords(storage, keys)
  const live = records.filter((m) => isMachineRecent(m))
  const problem = state.status === 'corrupt' ? state.error.message.replaceAll('<app>', app) : null
  const result = (
    fields: Partial<RepairOutcome> & Pick<RepairOutcome, 'status' | 'pointer'>,
  ): RepairOutcome => ({
    found: state.status,
    problem,
    baseFrom: null,
    skipped: [],
    machines: fields.pointer ? planMachines(fields.pointer, live) : [],
    replacedLock: null,
    warnings: warnings.list,
    ...fields,
  })
  if (state.status === 'ok' && !options.force)
    return result({ status: 'nothing-to-repair', pointer: state.pointer })

  const history = await publishHistory(storage, app, options.prefix)
  const { baseRef, baseFrom } = chooseBase(options, live, history)
  const onBase = history.filter((h) => h.baseRef === baseRef).reverse() // newest first
  const skipped: RepairOutcome['skipped'] = []
  let hot: HotUpgrade | null = null
  if (options.to !== undefined && options.to !== 'base') {
    const wanted = onBase.find((h) => h.version === options.to)
    if (!wanted) {
      const known = [...new Set(onBase.map((h) => h.version))].join(', ') || 'none'
      throw new ConfigError(
        'to',
        `no published version ${options.to} for base ${baseRef}; known versions: ${known}`,
      )
    }
    const stored = await checkStoredArtifact(storage, wanted.artifact)
    if (stored.status !== 'ok')
      throw new ArtifactCorruptError(
        `the artifact of ${wanted.version} (${wanted.artifact.key}) is ${stored.status === 'missing' ? 'no longer in storage' : `corrupt (${describeCorruption(stored, wanted.artifact)})`}: publish ${wanted.version} again, or repair with another --to`,
      )
    hot = wanted
  } else if (options.to === undefined) {
    for (const candidate of onBase) {
      const stored = await checkStoredArtifact(storage, candidate.artifact)
      if (stored.status === 'ok') {
        hot = candidate
        break
      }
      const reason = stored.status === 'missing' ? 'artifact missing' : 'artifact corrupt'
      skipped.push({ version: candidate.version, upgradeId: candidate.upgradeId, reason })
      warnings.warn(`passed over ${candidate.version} (upgrade ${candidate.upgradeId}): ${reason}`)
    }
    if (!hot && onBase.length > 0)
      warnings.warn(
        `no upgrade published for ${baseRef} has its artifact intact: machines go back to base code`,
      )
  }

  // Every other base known, newest first, so machines still on one skip instead of resetting it.
  const known = [
    ...(state.status === 'ok' ? [state.pointer.baseRef, ...state.pointer.previousBases] : []),
    ...[...history].reverse().map((h) => h.baseRef),
    ...records.map((m) => m.baseRef),
  ]
  const previousBases = [...new Set(known)].filter((b) => b !== baseRef).slice(0, PREVIOUS_BASES_LIMIT)
  const pointer: CurrentPointer = {
    ...initialPointer(app, baseRef, { setBy: `repair:${whoAmI()}` }),
    previousBases,
    hot,
  }
  if (options.dryRun) return result({ status: 'dry-run', pointer, baseFrom, skipped })

  // `force` rewrites a valid pointer; it never takes over a held lock.
  const lockOptions = { storage, app, lockTtlMs: options.lockTtlMs ?? 60_000 }
  return withLock(lockOptions, keys, 'repair the pointer', warnings, async (lock) => {
    const put = await writeDocument(
      storage,
      keys.current,
      pointer,
      state.status === 'missing' ? { ifNoneMatch: '*' } : { ifMatch: state.etag },
    )
    if (put.status !== 'ok')
      throw new RelupError(
        'ERR_RELUP_POINTER_CHANGED',
        'the pointer changed while repairing it (a machine booted, or someone else wrote it): run `relup status`, then repair again if it is still needed',
      )
    await verifyPointer(storage, keys, pointer, 'The repair did not take.')
    await announceMove(options.notifier, keys.current, pointer, 'repair', warnings.warn)
    return result({ status: 'repaired', pointer, baseFrom, skipped, replacedLock: lock.replaced })
  })
}
