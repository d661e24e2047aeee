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

export class CallStats {
  readonly #versions = new Map<string, VersionCalls>()

  /** The counters of `version` (zeros for a version never called). A copy. */
  of(version: string): VersionCalls {
    const calls = this.#versions.get(version)
    return calls ? { ...calls } : { calls: 0, errors: 0, responses: 0, serverErrors: 0 }
  }

  /** Run `call` for `version`, counting it, its throw or rejection, and a response among `args`. */
  observe(version: string, args: readonly unknown[], call: () => unknown): unknown {
    const calls = this.#counters(version)
    calls.calls++
    for (const arg of args) {
      if (arg instanceof ServerResponse) {
        this.#watch(arg, calls)
        break
      }
    }
    let result: unknown
    try {
      result = call()
    } catch (error) {
      calls.errors++
      throw error
    }
    // The caller gets a promise that settles as the original does (unhandled if it drops it).
    if (result instanceof Promise)
      return result.then(undefined, (error: unknown) => {
        calls.errors++
        throw error
      })
    return result
  }

  #watch(response: ServerResponse, calls: VersionCalls): void {
    // The first version handed a response answers it; nested handle calls do not count it twice.
    if (counted.has(response) || response.writableFinished) return
    counted.add(response)
    response.once('finish', () => {
      calls.responses++
      if (response.statusCode >= 500) calls.serverErrors++
    })
  }

  #counters(version: string): VersionCalls {
    let calls = this.#versions.get(version)
    if (!calls) {
      calls = { calls: 0, errors: 0, responses: 0, serverErrors: 0 }
      this.#versions.set(version, calls)
      if (this.#versions.size > VERSIONS_KEPT) {
        const oldest = this.#versions.keys().next().value as string
        this.#versions.delete(oldest)
      }
    }
    return calls
  }
}
