/**
 * The runtime's state and the one function that changes it. Every change is an event reduced
 * here, so what moves the runtime between starting, running, development mode and stopped (and
 * what an outage, a failed attempt or an applied upgrade change) is read in one place, the way
 * TanStack Query's `query-core` routes a query's changes through its reducer.
 */
import type { CurrentPointer, LocalMarker } from '@relup/core'
import type { LastUpgrade, RelupState } from './types.js'

export type Lifecycle = 'created' | 'starting' | 'development' | 'running' | 'stopping' | 'stopped'

type LifecycleEvent = 'start' | 'development' | 'started' | 'stop' | 'stopped'

/** Every move of the lifecycle; any other is a bug, and `reduce` throws. */
const transitions: Record<LifecycleEvent, Partial<Record<Lifecycle, Lifecycle>>> = {
  start: { created: 'starting' },
  /** No baseRef: nothing is replayed or polled. */
  development: { starting: 'development' },
  /** The startup replay is over (done, or left to the polls): polling begins. */
  started: { starting: 'running' },
  /** Waits for the startup replay or the poll in progress; a runtime never started has nothing to wait for. */
  stop: { created: 'stopped', starting: 'stopping', running: 'stopping', development: 'stopping' },
  /** The last machine record is written. */
  stopped: { stopping: 'stopped' },
}

/** Failed attempts of one upgrade, and when the next one is due (epoch ms; null: no more, `maxAttempts` reached). */
export interface Attempts {
  count: number
  nextAt: number | null
}

export interface Outage {
  /** Epoch ms of the first failed poll. */
  since: number
  failures: number
}

export interface RuntimeState {
  readonly lifecycle: Lifecycle
  /**
   * The startup replay's work on the pointer (first pointer, cold-deploy reset) is not done yet:
   * storage did not answer in time, or the pointer was unreadable. Polls finish it.
   */
  readonly startupPending: boolean
  /** What this process runs (null: base code), and what the marker on disk says. */
  readonly running: LocalMarker | null
  readonly diskMarker: LocalMarker | null
  readonly outage: Outage | null
  readonly attempts: ReadonlyMap<string, Attempts>
  readonly lastCheck: Date | null
  readonly nextPoll: Date | null
  readonly lastUpgrade: LastUpgrade | null
  readonly upgradeCount: number
}

export type RuntimeEvent =
  | { type: LifecycleEvent }
  | { type: 'marker-read'; marker: LocalMarker | null }
  | { type: 'startup-settled' }
  | { type: 'poll-scheduled'; at: Date | null }
  | { type: 'poll-started'; at: Date }
  | { type: 'storage-failed'; at: number }
  | { type: 'storage-answered' }
  /** The engine swapped the upgrade in (and `markerWritten`: the marker on disk says so). */
  | { type: 'upgrade-applied'; marker: LocalMarker; markerWritten: boolean }
  | { type: 'upgrade-failed'; upgradeId: string; attempt: number; nextAt: number | null }
  /** The pointer's upgrade could not be applied at startup: the machine booted its last good release instead. */
  | { type: 'release-restored'; marker: LocalMarker }
  /** A rollback to base swapped the base release back in: no hot code runs, no marker is kept. */
  | { type: 'base-applied'; attemptsKey: string }
  /** The attempt's result and the machine record are written: the upgrade is finished. */
  | { type: 'upgrade-reported'; last: LastUpgrade }

export const initialState: RuntimeState = {
  lifecycle: 'created',
  startupPending: true,
  running: null,
  diskMarker: null,
  outage: null,
  attempts: new Map(),
  lastCheck: null,
  nextPoll: null,
  lastUpgrade: null,
  upgradeCount: 0,
}

export function reduce(state: RuntimeState, event: RuntimeEvent): RuntimeState {
  switch (event.type) {
    case 'start':
    case 'development':
    case 'started':
    case 'stop':
    case 'stopped': {
      const next = transitions[event.type][state.lifecycle]
      if (next === undefined)
        throw new Error(`relup: cannot ${event.type} a runtime that is ${state.lifecycle}`)
      // Once stopping, nothing is scheduled any more.
      return next === 'stopping' || next === 'stopped'
        ? { ...state, lifecycle: next, nextPoll: null }
        : { ...state, lifecycle: next }
    }
    case 'marker-read':
      return { ...state, diskMarker: event.marker }
    case 'startup-settled':
      return { ...state, startupPending: false }
    case 'poll-scheduled':
      return { ...state, nextPoll: event.at }
    case 'poll-started':
      return { ...state, lastCheck: event.at }
    case 'storage-failed':
      return {
        ...state,
        outage: { since: state.outage?.since ?? event.at, failures: (state.outage?.failures ?? 0) + 1 },
      }
    case 'storage-answered':
      return state.outage === null ? state : { ...state, outage: null }
    case 'upgrade-applied': {
      const attempts = new Map(state.attempts)
      attempts.delete(event.marker.upgradeId)
      return {
        ...state,
        running: event.marker,
        diskMarker: event.markerWritten ? event.marker : state.diskMarker,
        attempts,
        upgradeCount: state.upgradeCount + 1,
      }
    }
    case 'upgrade-failed': {
      const attempts = new Map(state.attempts)
      attempts.set(event.upgradeId, { count: event.attempt, nextAt: event.nextAt })
      return { ...state, attempts }
    }
    case 'release-restored':
      return { ...state, running: event.marker, diskMarker: event.marker }
    case 'base-applied': {
      const attempts = new Map(state.attempts)
      attempts.delete(event.attemptsKey)
      return { ...state, running: null, diskMarker: null, attempts, upgradeCount: state.upgradeCount + 1 }
    }
    case 'upgrade-reported':
      return { ...state, lastUpgrade: event.last }
  }
}

/** The public mode: before and during the startup replay the runtime counts as running, as it always did. */
function publicMode(lifecycle: Lifecycle): RelupState['mode'] {
  if (lifecycle === 'development') return 'development'
  return lifecycle === 'stopping' || lifecycle === 'stopped' ? 'stopped' : 'running'
}

/** What `relup.getState()` shows: the state, with who the machine is and what it knows of the pointer. */
export function publicState(
  state: RuntimeState,
  machine: { app: string; machineId: string; baseRef: string | null },
  pointer: { etag: string | null; pointer: CurrentPointer | null },
): RelupState {
  const hot = pointer.pointer?.hot
  const pending = hot ? state.attempts.get(hot.upgradeId) : undefined
  return {
    app: machine.app,
    machineId: machine.machineId,
    mode: publicMode(state.lifecycle),
    baseRef: machine.baseRef,
    etag: pointer.etag,
    lastCheck: state.lastCheck,
    lastUpgrade: state.lastUpgrade,
    upgradeCount: state.upgradeCount,
    consecutiveFailures: state.outage?.failures ?? 0,
    upgradeFailures: pending?.count ?? 0,
    nextRetry: pending?.nextAt != null ? new Date(pending.nextAt) : null,
    nextPoll: state.nextPoll,
    pointerSeq: pointer.pointer?.seq ?? null,
  }
}
