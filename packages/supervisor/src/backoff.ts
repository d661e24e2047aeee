/** How long to wait before restarting a crashed process: doubling from `initial` up to `max`. */
export interface RestartDelay {
  /** Default 200 ms. */
  initial?: number
  /** Default 30 s. */
  max?: number
}

export function restartDelay(attempt: number, delay: RestartDelay = {}): number {
  const initial = delay.initial ?? 200
  const max = delay.max ?? 30_000
  return Math.min(max, initial * 2 ** Math.min(attempt, 30))
}
