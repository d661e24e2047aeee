/**
 * What the calls into each version did, seen from the handles: every call of a module handle or
 * a unit method counts for the version that served it, and so does its throw or rejection. A
 * call handed an HTTP response (`handler(req, res)`, Express or Fastify inside the hot code)
 * also counts that response's status when it finishes, for the version it was handed to: a
 * framework that catches an error and answers 500 never lets the throw reach the handle. This is
 * what a runtime's health gate compares between a candidate and the version before it.
 */
import { ServerResponse } from 'node:http'

/** The calls one version served, since it was first called. */
export interface VersionCalls {
  /** Calls through module handles and unit methods. */
  calls: number
  /** Calls that threw or whose promise rejected. */
  errors: number
  /** HTTP responses handed to a call of this version that finished. */
  responses: number
  /** Of those, responses with a 5xx status. */
  serverErrors: number
}

/** How many versions are remembered: the live one and those before it. */
const VERSIONS_KEPT = 8

const counted = new WeakSet<ServerResponse>()

interface Counters extends VersionCalls {
  /** Counts a rejection and passes it on: one per version, not one closure per call. */
  readonly rejected: (error: unknown) => never
}

export class CallStats {
  readonly #versions = new Map<string, Counters>()
  /** The version called last: almost every call is to the live one. */
  #last: { version: string; counters: Counters } | null = null

  /** The counters of `version` (zeros for a version never called). A copy. */
  of(version: string): VersionCalls {
    const c = this.#versions.get(version)
    return c
      ? { calls: c.calls, errors: c.errors, responses: c.responses, serverErrors: c.serverErrors }
      : { calls: 0, errors: 0, responses: 0, serverErrors: 0 }
  }

  /** Call `fn` with `thisArg` and `args` for `version`, counting it, its throw or rejection, and a response among `args`. */
  call(
    version: string,
    fn: (...args: unknown[]) => unknown,
    thisArg: unknown,
    args: readonly unknown[],
  ): unknown {
    const counters = this.#counters(version)
    counters.calls++
    watchResponses(args, counters)
    let result: unknown
    try {
      result = Reflect.apply(fn, thisArg, args)
    } catch (error) {
      counters.errors++
      throw error
    }
    // The caller gets a promise that settles as the original does (unhandled if it drops it).
    return result instanceof Promise ? result.then(undefined, counters.rejected) : result
  }

  /** Run `work` (which returns a promise) for `version`: a unit method, through its gate. */
  run(version: string, args: readonly unknown[], work: () => Promise<unknown>): Promise<unknown> {
    const counters = this.#counters(version)
    counters.calls++
    watchResponses(args, counters)
    return work().then(undefined, counters.rejected)
  }

  #counters(version: string): Counters {
    const last = this.#last
    if (last !== null && last.version === version) return last.counters
    let counters = this.#versions.get(version)
    if (!counters) {
      const fresh = { calls: 0, errors: 0, responses: 0, serverErrors: 0 } as Counters
      ;(fresh as { rejected: (error: unknown) => never }).rejected = (error: unknown) => {
        fresh.errors++
        throw error
      }
      counters = fresh
      this.#versions.set(version, counters)
      if (this.#versions.size > VERSIONS_KEPT) {
        const oldest = this.#versions.keys().next().value as string
        this.#versions.delete(oldest)
      }
    }
    this.#last = { version, counters }
    return counters
  }
}

function watchResponses(args: readonly unknown[], counters: VersionCalls): void {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (typeof arg === 'object' && arg !== null && arg instanceof ServerResponse) {
      // The first version handed a response answers it; nested handle calls do not count it twice.
      if (counted.has(arg) || arg.writableFinished) return
      counted.add(arg)
      arg.once('finish', () => {
        counters.responses++
        if (arg.statusCode >= 500) counters.serverErrors++
      })
      return
    }
  }
}
