/**
 * The messages between the supervisor and its app processes, over the child's IPC channel
 * (JSON serialization). Every message carries `relup` (its kind), so an app's own messages on
 * the same channel are left alone. Only plain data crosses: never a function, never a class
 * instance — two versions of an app do not share code (FlyDeploy's `:badfun` lesson).
 */
import { SUPERVISED_ENV } from '@relup/core'

/** Set in an app process's environment by the supervisor. */
export const SUPERVISOR_ENV = {
  /** `1` when the process runs under a relup supervisor (with an IPC channel). */
  supervised: SUPERVISED_ENV.supervised,
  /** The id of the release the process was started from. */
  release: 'RELUP_RELEASE',
  /** The ports the supervisor listens on, `configured=actual` pairs separated by commas. */
  ports: 'RELUP_PORTS',
} as const

/** Plain data that can cross between two app versions. */
export type PlainData = null | boolean | number | string | PlainData[] | { [key: string]: PlainData }

/** App → supervisor. */
export type AppMessage =
  /** Asks for the listening socket the supervisor owns for `port`. */
  | { relup: 'listen'; id: number; port: number }
  /**
   * Listening, startup replay done: ready to take traffic. `adopts`: this process takes the idle
   * keep-alive connections its predecessor hands over (an older helper leaves it out).
   */
  | { relup: 'ready'; adopts?: boolean }
  /**
   * With the handle of an idle keep-alive connection (no request under way, nothing unread): the
   * drain hands it to the successor instead of closing it. `port` is the port it was accepted on, as configured.
   * `handoff`: this process has a `handOff` state to send once its drain is done.
   */
  | { relup: 'connection'; port: number; handoff?: boolean }
  /** The state an old process hands to its successor, sent once its connections are gone (or near the deadline). */
  | { relup: 'handoff'; data: PlainData }
  /** The handoff could not be produced; the successor starts without it. */
  | { relup: 'handoff-failed'; error: string }
  /** Every server closed and every drain listener done: about to exit. */
  | { relup: 'drained' }
  /** The app found itself unable to serve (its own health check): during a probation, the machine goes back. */
  | { relup: 'unhealthy'; reason: string }

/** Supervisor → app. The `socket` message carries the listening handle. */
export type SupervisorMessage =
  | { relup: 'socket'; id: number; port: number; actualPort: number }
  | { relup: 'no-socket'; id: number; port: number; available: number[] }
  /**
   * Stop accepting, finish in-flight requests, tell long-lived clients to reconnect, exit.
   * `handOver`: the successor adopts idle keep-alive connections, so hand them over (`connection`) rather than close them.
   */
  | { relup: 'drain'; reason: DrainReason; deadline: number; handOver?: boolean }
  /**
   * With the handle of a connection the predecessor handed over: serve it on the server for `port`
   * (`handoff`: once the predecessor's state has arrived, or shortly after).
   */
  | { relup: 'connection'; port: number; handoff?: boolean }
  /** The state the predecessor handed over. */
  | { relup: 'handoff'; data: PlainData; from: { pid: number; release: string } }

/** Why a process is drained: replaced by a new release, or the supervisor is stopping. */
export type DrainReason = 'cutover' | 'stop'

const KINDS = new Set([
  'listen',
  'ready',
  'handoff',
  'handoff-failed',
  'drained',
  'unhealthy',
  'socket',
  'no-socket',
  'drain',
  'connection',
])

export function isRelupMessage<T extends { relup: string }>(message: unknown): message is T {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { relup?: unknown }).relup === 'string' &&
    KINDS.has((message as { relup: string }).relup)
  )
}
