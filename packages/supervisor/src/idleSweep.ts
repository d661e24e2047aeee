/**
 * Which idle keep-alive connections a drain closes. A connection idle for the grace is closed in
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
  /** `bytesRead` when a sweep found it idle past the grace. */
  markedAt?: number | undefined
}

export interface SweptSocket {
  readonly bytesRead: number
  destroy(): void
}

export function sweepIdle<S extends SweptSocket>(
  connections: Map<S, TrackedConnection>,
  now: number,
  graceMs: number,
): void {
  for (const [socket, tracked] of connections) {
    if (tracked.busy > 0 || now - tracked.idleSince < graceMs) tracked.markedAt = undefined
    else if (tracked.markedAt !== socket.bytesRead) tracked.markedAt = socket.bytesRead
    else socket.destroy()
  }
}
