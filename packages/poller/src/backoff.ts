/** Exponential backoff with full jitter on the upper half: `base * 2^(n-1)`, capped, times [0.5, 1). */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(exponential * (0.5 + random() * 0.5))
}

/** A poll interval with ±10 % jitter, so a fleet started together does not poll in lockstep. */
export function jittered(intervalMs: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(intervalMs * (0.9 + random() * 0.2)))
}
