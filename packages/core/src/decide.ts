/**
 * The runtime's state diffing: given what storage says (the pointer) and what the machine
 * knows about itself (its base and its local marker), what should it do?
 */
import type { LocalMarker } from './marker.js'
import type { CurrentPointer, HotUpgrade } from './pointer.js'

export type Decision =
  /** No pointer yet: this machine writes the first one (create-only). */
  | { action: 'init' }
  /** A cold deploy: this machine's base is new to the pointer. Reset it to this base (compare-and-swap). */
  | { action: 'reset'; fromBaseRef: string }
  /** This machine is an older generation (its base is among the pointer's previous bases): run base code, touch nothing. */
  | { action: 'skip'; currentBaseRef: string }
  /** Nothing to do: no hot upgrade, or the machine already runs it. */
  | { action: 'noop' }
  /** Apply this hot upgrade. */
  | { action: 'apply'; upgrade: HotUpgrade }

export interface DecideInput {
  /** The pointer read from storage, or null when there is none. */
  pointer: CurrentPointer | null
  /** The cold build this machine booted from. */
  baseRef: string
  /** The machine's local marker, or null when it runs base code. */
  marker: LocalMarker | null
}

export function decide({ pointer, baseRef, marker }: DecideInput): Decision {
  if (pointer === null) return { action: 'init' }
  if (pointer.baseRef !== baseRef) {
    // FlyDeploy resets the pointer whenever the bases differ, so an old machine restarting
    // during a rolling cold deploy points the fleet backwards. A base the pointer has moved
    // away from is an older generation: it must not reset anything.
    if (pointer.previousBases.includes(baseRef)) return { action: 'skip', currentBaseRef: pointer.baseRef }
    return { action: 'reset', fromBaseRef: pointer.baseRef }
  }
  const hot = pointer.hot
  if (hot === null) return { action: 'noop' }
  // A marker from another base (a stale state directory) proves nothing about this base.
  if (marker !== null && marker.baseRef === baseRef && marker.upgradeId === hot.upgradeId)
    return { action: 'noop' }
  return { action: 'apply', upgrade: hot }
}
