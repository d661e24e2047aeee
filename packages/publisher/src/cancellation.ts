/** Cancelling a publish or rollback through an `AbortSignal` (the CLI aborts it on SIGINT/SIGTERM). */
import { CancelledError } from './errors.js'

/** Throw a `CancelledError` when `signal` was aborted: "<when> by SIGTERM: <consequence>". */
export function throwIfCancelled(signal: AbortSignal | undefined, when: string, consequence?: string): void {
  if (signal?.aborted) throw cancelled(signal, when, consequence)
}

export function cancelled(signal: AbortSignal, when: string, consequence?: string): CancelledError {
  const reason = signal.reason
  const by = typeof reason === 'string' ? ` by ${reason}` : ''
  return new CancelledError(`${when}${by}${consequence ? `: ${consequence}` : ''}`, reason)
}

/** Wait `ms`, or less when `signal` is aborted (then it resolves: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
