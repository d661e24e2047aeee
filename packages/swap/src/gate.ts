/**
 * The gate in front of one unit: counts the unit's in-flight async calls and, while an upgrade
 * suspends the unit, parks new calls until it reopens (on the new version after a commit, on the
 * old one after an abort). Calls that return synchronously are never in flight.
 */
import { isThenable } from './thenable.js'

/** One async call a gate counts until it settles. */
export interface Call {
  /** What it is, for messages: `chat.serve()`, `chat: interval callback`. */
  what: string
  startedAt: number
  /** Marked with `ctx.longLived()`: the drain never waits for it. */
  longLived: boolean
  /** It was still pending when an earlier drain timed out. */
  heldBackDrain: boolean
}

/** The call whose synchronous part is running now (what `ctx.longLived()` marks). */
let activeCall: Call | undefined
const longLivedWork = new WeakSet<object>()

/**
 * Long-lived work (a per-connection loop, a long poll): the drain does not wait for it. The call
 * that is running now (a unit method before its first `await`, or a `ctx` timer or listener
 * callback) stops counting as in flight, and so does any call that returns this promise.
 */
export function markLongLived(work: unknown): void {
  if (activeCall) activeCall.longLived = true
  if ((typeof work === 'object' || typeof work === 'function') && work !== null) longLivedWork.add(work)
}

export class Gate {
  private closed = false
  private readonly calls = new Set<Call>()
  private parked: Array<() => void> = []
  private onIdle: (() => void) | undefined

  get isClosed(): boolean {
    return this.closed
  }

  get inFlight(): number {
    return this.calls.size
  }

  get parkedCalls(): number {
    return this.parked.length
  }

  /** The calls in flight now, oldest first. */
  pending(): Call[] {
    return [...this.calls]
  }

  /** Run `invoke` now, or when the gate reopens if it is closed. */
  pass<T>(invoke: () => Promise<T>): Promise<T> {
    if (!this.closed) return invoke()
    return new Promise<T>((resolve) => this.parked.push(() => resolve(invoke())))
  }

  /**
   * Run the synchronous part of a call and count the promise it returns as in flight until it
   * settles, unless it is long-lived. Returns what the caller should get.
   */
  run<T>(what: string, invoke: () => T): Promise<Awaited<T>> {
    const call: Call = { what, startedAt: performance.now(), longLived: false, heldBackDrain: false }
    const previous = activeCall
    activeCall = call
    let result: T
    try {
      result = invoke()
    } finally {
      activeCall = previous
    }
    if (!isThenable(result)) return Promise.resolve(result as Awaited<T>)
    if (call.longLived || longLivedWork.has(result)) return Promise.resolve(result) as Promise<Awaited<T>>
    this.calls.add(call)
    // `finally` hands the caller a promise that rejects like the original, so unhandled
    // rejections stay visible.
    return Promise.resolve(result).finally(() => this.settled(call)) as Promise<Awaited<T>>
  }

  close(): void {
    this.closed = true
  }

  /** Resolves when no call is in flight; `true` right away (synchronously) when none is. */
  idle(): true | Promise<void> {
    if (this.calls.size === 0) return true
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

  private settled(call: Call): void {
    this.calls.delete(call)
    if (this.calls.size === 0 && this.onIdle) {
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

/** What a drain timeout tells the user to do about calls that never finish. */
export const LONG_LIVED_ADVICE =
  'work that stays pending by design (a per-connection loop, a long poll, a stream) must not hold ' +
  'upgrades back: return or pass it through ctx.longLived(promise) in the unit, end it when ctx.signal ' +
  'aborts, and keep the socket in the cold part with only its id in ctx.state'

/** `chat.serve() (pending 12.0 s), …` */
export function describeCalls(calls: Call[]): string {
  const now = performance.now()
  const listed = calls
    .slice(0, 5)
    .map((call) => `${call.what} (pending ${((now - call.startedAt) / 1000).toFixed(1)} s)`)
  if (calls.length > 5) listed.push(`${calls.length - 5} more`)
  return listed.join(', ')
}
