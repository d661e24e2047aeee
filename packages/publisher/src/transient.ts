/**
 * Storage that fails for a moment (a network blip, a restarting endpoint, throttling) is the
 * normal case for a publisher that waits minutes: these errors are ridden out, not reported as
 * the publish failing.
 */
import { isRelupError, StorageTransportError } from '@relup/core'
import { sleep } from './cancellation.js'

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND'])

/** A storage failure that may go away by itself: a retryable `StorageTransportError` or a network error. */
export function isTransientStorageError(error: unknown): boolean {
  if (isRelupError(error, StorageTransportError.code)) return (error as StorageTransportError).retryable
  return NETWORK_CODES.has((error as NodeJS.ErrnoException | undefined)?.code ?? '')
}

/**
 * `fn()`, tried again on transient storage errors until `withinMs` has passed (then the last
 * error is thrown). Other errors are thrown at once.
 */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  options: { withinMs: number; delayMs?: number; signal?: AbortSignal | undefined },
): Promise<T> {
  const deadline = Date.now() + options.withinMs
  let delay = options.delayMs ?? 250
  while (true) {
    try {
      return await fn()
    } catch (error) {
      if (!isTransientStorageError(error) || Date.now() + delay > deadline) throw error
      await sleep(delay, options.signal)
      delay = Math.min(delay * 2, 2000)
    }
  }
}
