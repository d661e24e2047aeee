/**
 * The runtime's state diffing: given what storage says (the pointer) and what the machine
 * knows about itself (its base and its local marker), what should it do?
 */
import type { LocalMarker } from './marker.js'
import type { CurrentPointer, HotUpgrade } from './pointer.js'
import { inRolloutWave } from './rollout.js'

export type Decision =
  /** No pointer yet: this machine writes the first one (create-only). */
  | { action: 'init' }
  /** A cold deploy: this machine's base is new to the pointer. Reset it to this base (compare-and-swap). */
  | { action: 'reset'; fromBaseRef: string }
  /**
   * Run base code and touch nothing. `older-base`: this machine is an older generation (its base
   * is among the pointer's previous bases). `base-rebuilt`: its base has the pointer's `baseRef`
   * but other contents (rebuilt without a new ref), so the fleet's hot upgrades were made for
   * other code.
   */
  | { action: 'skip'; reason: 'older-base' | 'base-rebuilt'; currentBaseRef: string }
  /** Nothing to do: no hot upgrade, or the machine already runs it. */
  | { action: 'noop' }
  /**
   * The pointer runs this base without hot code (a rollback to base) while this machine runs a hot
   * upgrade of it: swap the base release back in.
   */
  | { action: 'base' }
  /** Apply this hot upgrade: the stable release, or (`candidate: true`) a rollout's candidate this machine's cohort is in. */
  | { action: 'apply'; upgrade: HotUpgrade; candidate?: boolean }

export interface DecideInput {
  /** The pointer read from storage, or null when there is none. */
  pointer: CurrentPointer | null
  /** The cold build this machine booted from. */
  baseRef: string
  /** The machine's local marker, or null when it runs base code. */
  marker: LocalMarker | null
  /** `manifestDigest` of the base release this machine booted from, when its engine reports it. */
  baseDigest?: string | null | undefined
  /** This machine's id: whether it is in a rollout's current wave (without it, it runs the stable release). */
  machineId?: string | undefined
  /** Upgrades this machine found unhealthy itself: it never runs them again, as a candidate or otherwise. */
  refused?: readonly string[] | undefined
}

export function decide({ pointer, baseRef, marker, baseDigest, machineId, refused }: DecideInput): Decision {
  if (pointer === null) return { action: 'init' }
  if (pointer.baseRef !== baseRef) {
    // FlyDeploy resets the pointer whenever the bases differ, so an old machine restarting
    // during a rolling cold deploy points the fleet backwards. A base the pointer has moved
    // away from is an older generation: it must not reset anything.
    if (pointer.previousBases.includes(baseRef))
      return { action: 'skip', reason: 'older-base', currentBaseRef: pointer.baseRef }
    return { action: 'reset', fromBaseRef: pointer.baseRef }
  }
  // Same ref, other code: a hot upgrade made for the fleet's base must not be laid over it.
  if (pointer.baseDigest && baseDigest && pointer.baseDigest !== baseDigest)
    return { action: 'skip', reason: 'base-rebuilt', currentBaseRef: pointer.baseRef }
  // During a rollout, machines of the current wave run the candidate; everyone else the stable release.
  const candidate = pointer.candidate
  const bad = new Set([...(pointer.badUpgrades ?? []), ...(refused ?? [])])
  if (
    candidate &&
    machineId !== undefined &&
    !bad.has(candidate.upgrade.upgradeId) &&
    inRolloutWave(machineId, candidate)
  ) {
    const upgrade = candidate.upgrade
    if (marker !== null && marker.baseRef === baseRef && marker.upgradeId === upgrade.upgradeId)
      return { action: 'noop' }
    return { action: 'apply', upgrade, candidate: true }
  }
  const hot = pointer.hot
  if (hot === null)
    return marker !== null && marker.baseRef === baseRef ? { action: 'base' } : { action: 'noop' }
  // A marker from another base (a stale state directory) proves nothing about this base.
  if (marker !== null && marker.baseRef === baseRef && marker.upgradeId === hot.upgradeId)
    return { action: 'noop' }
  return { action: 'apply', upgrade: hot }
}
