/**
 * Ctrl-C (SIGINT) or SIGTERM (a cancelled CI job) during a publish, rollback or repair: the first
 * one cancels the operation, which releases the deploy lock it owns and removes its temporary
 * files before the process exits with 130 or 143. A second one, or a cleanup that takes longer
 * than `graceMs`, exits at once (this process's temporary artifacts are still removed; a lock
 * left behind is taken over by the next publish on this host, its process being dead).
 */
import { removeOwnTempArtifactsSync } from '@relup/publisher'
import type { Output } from './output.js'

const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const
type CancelSignal = keyof typeof SIGNALS

export interface Cancellation {
  /** Aborted with the signal's name when one arrives. */
  readonly signal: AbortSignal
  /** The signal received, or null. */
  readonly received: CancelSignal | null
  /** The exit code for the signal received: 130 (SIGINT) or 143 (SIGTERM). */
  readonly exitCode: number
  /** Stop listening (the operation is over). */
  dispose(): void
}

export function cancelOnSignals(out: Output, graceMs = 15_000): Cancellation {
  const controller = new AbortController()
  let received: CancelSignal | null = null
  const exitNow = (code: number) => {
    removeOwnTempArtifactsSync()
    process.exit(code)
  }
  const handlers = Object.keys(SIGNALS).map((name) => {
    const signal = name as CancelSignal
    const handler = () => {
      if (received !== null) return exitNow(SIGNALS[signal])
      received = signal
      out.warn(
        `${signal}: cancelling; releasing the deploy lock and removing temporary files (again to exit at once)`,
      )
      controller.abort(signal)
      // Unref'd: it only fires if something still keeps the process alive after the cleanup.
      setTimeout(() => exitNow(SIGNALS[signal]), graceMs).unref()
    }
    process.on(signal, handler)
    return [signal, handler] as const
  })
  return {
    signal: controller.signal,
    get received() {
      return received
    },
    get exitCode() {
      return received === null ? 1 : SIGNALS[received]
    },
    dispose() {
      for (const [signal, handler] of handlers) process.off(signal, handler)
    },
  }
}
