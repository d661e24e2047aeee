/**
 * The gate in front of one unit: counts the unit's in-flight async calls and, while an upgrade
 * suspends the unit, parks new calls until it reopens (on the new version after a commit, on the
 * old one after an abort). Calls that return synchronously are never in flight.
 */
import { isThenable } from './unit.js'

export class Gate {
  private closed = false
  private inflight = 0
  private parked: Array<() => void> = []
  private onIdle: (() => void) | undefined

  get isClosed(): boolean {
    return this.closed
  }

  get inFlight(): number {
    return this.inflight
  }

  get parkedCalls(): number {
    return this.parked.length
  }

  /** Run `invoke` now, or when the gate reopens if it is closed. */
  pass<T>(invoke: () => Promise<T>): Promise<T> {
    if (!this.closed) return invoke()
    return new Promise<T>((resolve) => this.parked.push(() => resolve(invoke())))
  }

  /** Count a call's result as in flight until it settles, and return what the caller should get. */
  track<T>(result: T): Promise<Awaited<T>> {
    if (!isThenable(result)) return Promise.resolve(result as Awaited<T>)
    this.inflight++
    // `finally` hands the caller a promise that rejects like the original, so unhandled
    // rejections stay visible.
    return Promise.resolve(result).finally(() => this.settled()) as Promise<Awaited<T>>
  }

  close(): void {
    this.closed = true
  }

  /** Resolves when no call is in flight; `true` right away (synchronously) when none is. */
  idle(): true | Promise<void> {
    if (this.inflight === 0) return true
    return new Promise<void>((resolve) => {
      const previous = this.onIdle
      this.onIdle = () => {
        previous?.()
        resolve()
      }
    })
  }

  /** Reopen and run the parked calls in arrival order. */
  open(): void {
    this.closed = false
    const parked = this.parked
    this.parked = []
    for (const run of parked) run()
  }

  private settled(): void {
    this.inflight--
    if (this.inflight === 0 && this.onIdle) {
      const notify = this.onIdle
      this.onIdle = undefined
      notify()
    }
  }
}

/**
 * Wait until every gate is idle, at most `timeoutMs`. Synchronous (`true`) when nothing is in
 * flight, so an idle suspend adds no turn of the event loop to the pause.
 */
export function drain(gates: Gate[], timeoutMs: number): true | Promise<boolean> {
  const pending = gates.map((gate) => gate.idle()).filter((idle): idle is Promise<void> => idle !== true)
  if (pending.length === 0) return true
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  return Promise.race([Promise.all(pending).then(() => true), timeout]).finally(() => clearTimeout(timer))
}
