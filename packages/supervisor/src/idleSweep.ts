/**
 * Which idle keep-alive connections a drain hands to the successor (`canHandOver`), and which it
 * closes when there is none to take them (a stop). A connection idle for the grace is closed in
 * two looks: marked at one sweep, closed at the next only if nothing arrived on it in between.
 * A sweep is a timer, and timers run before the event loop reads what arrived while it was busy:
 * closing at the first look resets a connection whose next request is already here, unread (a
 * failed request for the client, seen under load).
 */
export interface TrackedConnection {
  /** Requests under way on it. */
  busy: number
  /** When its last response ended (or it opened). */
  idleSince: number
  /** `bytesRead` then: more since means the next request has begun arriving. */
  bytesAtIdle: number
  /** The port it was accepted on, as the app asked for it (where the successor serves it). */
  port: number
  /** False for a TLS server's: its session cannot leave this process. */
  movable: boolean
  /** `bytesRead` when a sweep found it idle past the grace. */
  markedAt?: number | undefined
}

/** What the sweep reads and writes of a connection. */
export type SweptConnection = Pick<TrackedConnection, 'busy' | 'idleSince' | 'markedAt'>

export interface SweptSocket {
  readonly bytesRead: number
  destroy(): void
}

export function sweepIdle<S extends SweptSocket>(
  connections: Map<S, SweptConnection>,
  now: number,
  graceMs: number,
): void {
  for (const [socket, tracked] of connections) {
    if (tracked.busy > 0 || now - tracked.idleSince < graceMs) tracked.markedAt = undefined
    else if (tracked.markedAt !== socket.bytesRead) tracked.markedAt = socket.bytesRead
    else socket.destroy()
  }
}

/**
 * Whether a connection can move to the successor as it is: no request under way, and not a byte
 * read since its last response ended, so the parser holds nothing of a next request. (What
 * arrives later is still in the kernel, and moves with the descriptor.) A client that pipelines
 * a request it has only half sent by then is the exception this cannot see.
 */
export function canHandOver(
  tracked: Pick<TrackedConnection, 'busy' | 'bytesAtIdle'>,
  bytesRead: number,
): boolean {
  return tracked.busy === 0 && bytesRead === tracked.bytesAtIdle
}
