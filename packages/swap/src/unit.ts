/**
 * Stateful units, the GenServer analogue: a hot module exports plain unit definitions, the engine
 * creates one instance per version and carries the state across versions as plain data.
 */
import { markLongLived } from './gate.js'
import { isThenable } from './thenable.js'
import type { UnitHandle } from './types.js'

/** What a hot module exports as `exports.units = { name: definition }`. */
export interface UnitDefinition<State = any, Api extends object = object, Deps = any> {
  /** The state of a unit that starts for the first time (no previous version). Default: `undefined`. */
  init?(): State
  /**
   * Build this version's instance around `ctx.state` and return its API (an object of methods).
   * Synchronous; register timers and listeners through `ctx` so the engine can clear them.
   */
  create(ctx: UnitContext<State, Deps>): Api
  /**
   * Turn the previous version's state (a structured clone: plain data, no functions, no class
   * prototypes) into this version's state. Synchronous and pure. Default: keep the state as is.
   * `fromVersion` is the release version whose code created the previous instance.
   */
  codeChange?(oldState: unknown, fromVersion: string): State
  /**
   * Turn this version's state into the state of the older version `toVersion`, when the runtime
   * reverts this release (an unhealthy candidate of a staged rollout, `upgrade(dir, { revert:
   * true })`). Synchronous and pure. Without it, the older code's `codeChange` receives this
   * version's state with this version as `fromVersion`, as on any upgrade.
   */
  downgrade?(state: State, toVersion: string): unknown
  /** Called after this instance was replaced (after the commit) or on `engine.close()`. */
  dispose?(ctx: UnitContext<State, Deps>): void | Promise<void>
}

/** Anything with `on`/`off` (Node's EventEmitter) or `addEventListener` (EventTarget). */
export type Listenable =
  | {
      on(event: string | symbol, listener: (...args: any[]) => void): unknown
      off?(event: string | symbol, listener: (...args: any[]) => void): unknown
      removeListener(event: string | symbol, listener: (...args: any[]) => void): unknown
    }
  | {
      addEventListener(event: string, listener: (...args: any[]) => void): unknown
      removeEventListener(event: string, listener: (...args: any[]) => void): unknown
    }

/** What the engine gives each unit instance. Everything registered here is cleared on dispose. */
export interface UnitContext<State = any, Deps = any> {
  /** The unit's state: read and write it freely; the engine hands it to the next version. Plain data only. */
  state: State
  readonly name: string
  /** The release version whose code created this instance. */
  readonly version: string
  /** Host-owned resources passed to `createSwapEngine({ deps })` (database pools, servers…). */
  readonly deps: Deps
  /** Aborted when this instance is disposed. */
  readonly signal: AbortSignal
  setTimeout<A extends unknown[]>(callback: (...args: A) => unknown, ms?: number, ...args: A): NodeJS.Timeout
  setInterval<A extends unknown[]>(callback: (...args: A) => unknown, ms?: number, ...args: A): NodeJS.Timeout
  clearTimeout(timer: NodeJS.Timeout | undefined): void
  clearInterval(timer: NodeJS.Timeout | undefined): void
  /** Add a listener that is removed when this instance is disposed; returns a function that removes it now. */
  listen(emitter: Listenable, event: string | symbol, listener: (...args: any[]) => unknown): () => void
  /** Run `fn` when this instance is disposed (last registered runs first). */
  onDispose(fn: () => unknown): void
  /** A stable handle to another unit of the current release. */
  unit<T extends object = any>(name: string): UnitHandle<T>
  /**
   * Mark long-lived work (a per-connection loop, a long poll, a stream): upgrades do not wait
   * for it. The call running now (a method of this unit, before its first `await`, or a `ctx`
   * timer or listener callback) stops counting as in flight, and so does a call that returns
   * `work`. The work keeps running on this version after an upgrade: end it when `ctx.signal`
   * aborts (this instance was replaced) and let the caller call again, on the new version.
   */
  longLived<T>(work: Promise<T>): Promise<T>
}

/** Identity helper that types a unit definition for TypeScript users (hot modules need not import it). */
export function defineUnit<State, Api extends object, Deps = any>(
  definition: UnitDefinition<State, Api, Deps>,
): UnitDefinition<State, Api, Deps> {
  return definition
}

/** The API type of a unit definition: `UnitApi<typeof counter>`. */
export type UnitApi<D> = D extends UnitDefinition<any, infer Api, any> ? Api : never

/** Why a unit definition cannot be used, or undefined when it can. */
export function unitDefinitionProblem(definition: unknown): string | undefined {
  if (typeof definition !== 'object' || definition === null) return 'is not an object'
  const unit = definition as Record<string, unknown>
  if (typeof unit.create !== 'function') return 'has no create(ctx) function'
  for (const hook of ['init', 'codeChange', 'downgrade', 'dispose']) {
    if (unit[hook] !== undefined && typeof unit[hook] !== 'function')
      return `has a ${hook} that is not a function`
  }
  return undefined
}

export interface ScopeOptions {
  name: string
  version: string
  deps: unknown
  /** Runs a timer or listener callback; the async work it starts counts as in flight for the drain. */
  run: (what: string, callback: () => unknown) => void
  unit: (name: string) => any
  warn: (message: string) => void
}

/** The `ctx` of one unit instance: owns its timers, listeners and dispose callbacks. */
export class UnitScope implements UnitContext {
  state: any
  readonly name: string
  readonly version: string
  readonly deps: any
  private readonly controller = new AbortController()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly removers = new Set<() => void>()
  private readonly disposers: Array<() => unknown> = []
  private readonly options: ScopeOptions

  constructor(options: ScopeOptions, state: unknown) {
    this.options = options
    this.name = options.name
    this.version = options.version
    this.deps = options.deps
    this.state = state
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  get disposed(): boolean {
    return this.controller.signal.aborted
  }

  setTimeout<A extends unknown[]>(
    callback: (...args: A) => unknown,
    ms?: number,
    ...args: A
  ): NodeJS.Timeout {
    if (this.refuseAfterDispose('setTimeout')) return inertTimer()
    const timer: NodeJS.Timeout = setTimeout(() => {
      this.timers.delete(timer)
      this.options.run('timeout callback', () => callback(...args))
    }, ms)
    this.timers.add(timer)
    return timer
  }

  setInterval<A extends unknown[]>(
    callback: (...args: A) => unknown,
    ms?: number,
    ...args: A
  ): NodeJS.Timeout {
    if (this.refuseAfterDispose('setInterval')) return inertTimer()
    const timer = setInterval(() => this.options.run('interval callback', () => callback(...args)), ms)
    this.timers.add(timer)
    return timer
  }

  clearTimeout(timer: NodeJS.Timeout | undefined): void {
    if (!timer) return
    clearTimeout(timer)
    this.timers.delete(timer)
  }

  clearInterval(timer: NodeJS.Timeout | undefined): void {
    this.clearTimeout(timer)
  }

  listen(emitter: Listenable, event: string | symbol, listener: (...args: any[]) => unknown): () => void {
    if (this.refuseAfterDispose('listen')) return () => {}
    const wrapped = (...args: any[]) => this.options.run(`${String(event)} listener`, () => listener(...args))
    let remove: () => void
    if ('addEventListener' in emitter && typeof emitter.addEventListener === 'function') {
      emitter.addEventListener(String(event), wrapped)
      remove = () => emitter.removeEventListener(String(event), wrapped)
    } else {
      const node = emitter as Extract<Listenable, { on: unknown }>
      node.on(event, wrapped)
      remove = () => node.removeListener(event, wrapped)
    }
    const once = () => {
      if (!this.removers.delete(once)) return
      remove()
    }
    this.removers.add(once)
    return once
  }

  onDispose(fn: () => unknown): void {
    if (this.refuseAfterDispose('onDispose')) return
    this.disposers.push(fn)
  }

  unit(name: string): any {
    return this.options.unit(name)
  }

  longLived<T>(work: Promise<T>): Promise<T> {
    markLongLived(work)
    return work
  }

  /**
   * Clear timers and listeners, abort the signal, then run `onDispose` callbacks (last first) and
   * the definition's `dispose`. Returns the errors instead of throwing: disposal never rolls back.
   */
  async dispose(definitionDispose: (() => unknown) | undefined, timeoutMs: number): Promise<unknown[]> {
    if (this.disposed) return []
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    for (const remove of [...this.removers]) remove()
    this.controller.abort()
    const errors: unknown[] = []
    const hooks = [...this.disposers.reverse(), ...(definitionDispose ? [definitionDispose] : [])]
    this.disposers.length = 0
    for (const hook of hooks) {
      try {
        const result = hook()
        if (isThenable(result)) await withTimeout(result, timeoutMs, `${this.name} (${this.version}) dispose`)
      } catch (error) {
        errors.push(error)
      }
    }
    return errors
  }

  private refuseAfterDispose(what: string): boolean {
    if (!this.disposed) return false
    this.options.warn(
      `unit ${this.name} (${this.version}) called ctx.${what} after it was disposed; ignored. ` +
        'Old instances must stop scheduling work once replaced.',
    )
    return true
  }
}

function inertTimer(): NodeJS.Timeout {
  const timer = setTimeout(() => {}, 0)
  clearTimeout(timer)
  return timer
}

async function withTimeout(promise: PromiseLike<unknown>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  try {
    await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** One version of a unit: its definition (that version's code), its `ctx` and the API `create` returned. */
export class UnitInstance {
  constructor(
    readonly name: string,
    readonly definition: UnitDefinition,
    readonly scope: UnitScope,
    readonly api: Record<PropertyKey, unknown>,
    /** The module that defines it, release-relative. */
    readonly modulePath: string,
  ) {}

  get version(): string {
    return this.scope.version
  }

  /** Create an instance; any throw leaves nothing behind (its scope is disposed). */
  static start(
    name: string,
    definition: UnitDefinition,
    modulePath: string,
    scopeOptions: ScopeOptions,
    state: unknown,
  ): UnitInstance {
    const scope = new UnitScope(scopeOptions, state)
    try {
      const api = definition.create(scope)
      if (isThenable(api))
        throw new Error('create(ctx) returned a promise; it must return the API synchronously')
      if ((typeof api !== 'object' && typeof api !== 'function') || api === null) {
        throw new Error('create(ctx) must return the unit API (an object of methods)')
      }
      return new UnitInstance(name, definition, scope, api as Record<PropertyKey, unknown>, modulePath)
    } catch (error) {
      void scope.dispose(undefined, 0)
      throw error
    }
  }

  dispose(timeoutMs: number): Promise<unknown[]> {
    const hook = this.definition.dispose
    return this.scope.dispose(hook ? () => hook.call(this.definition, this.scope) : undefined, timeoutMs)
  }
}
