import type { DisposeFailure, EngineStats, Logger, ModuleManifest } from '@relup/core'
import type { UpgradeError, UpgradePhase } from './errors.js'

export interface SwapEngineOptions<Deps = unknown> {
  /** The directory of the initial (base) release: CommonJS files, JSON, optional `public/`. */
  releaseDir: string
  /** The version name of the initial release. Default `'base'`. */
  version?: string
  /** When given, the files on disk must match it (sha256 and size), or loading fails. */
  manifest?: ModuleManifest
  /**
   * Where bare specifiers (`node:*`, packages in `node_modules`) are resolved from: a file path, a
   * directory or a `file:` URL (e.g. `import.meta.url` of the cold entry). Default: the directory
   * of the script Node was started with (`process.argv[1]`), else the working directory.
   */
  resolveFrom?: string | URL
  /** A host `require` to use for bare specifiers instead of `createRequire(resolveFrom)`. */
  hostRequire?: NodeJS.Require
  /**
   * Release-relative paths evaluated when a release loads (what they require is evaluated too).
   * Default: every `.js`/`.cjs` file outside `public/` and `node_modules/`.
   */
  entries?: string[]
  /** Host-owned resources handed to every unit as `ctx.deps`. */
  deps?: Deps
  /** Where the engine reports upgrades and problems. Default: warnings and errors to the console. */
  logger?: Partial<Logger>
  /**
   * `'eager'` (default): V8 compiles every function of a hot module while the release is prepared,
   * so unit hooks and the first calls after the switch do not compile inside the pause (a few
   * hundred microseconds for ten units). `'lazy'`: V8's usual on-first-call compilation, which
   * costs less time and memory for large modules whose functions mostly never run.
   */
  compile?: 'eager' | 'lazy'
  /** How long an async `dispose` may take before it counts as failed. Default 5000 ms. */
  disposeTimeout?: number
}

export interface UpgradeOptions {
  /** The manifest the release was published with; the files on disk must match it. Default: computed. */
  manifest?: ModuleManifest
  /** The version name of the new release. Default: the directory's base name. */
  version?: string
  /** How long in-flight calls of the suspended units may take to finish. Default 10000 ms. */
  suspendTimeout?: number
  /**
   * The caller has just verified the files in `releaseDir` against `manifest` (as the runtime's
   * extraction does while it writes them): the engine trusts the manifest instead of walking and
   * hashing the release again. The modules it evaluates are still checked against the manifest
   * when read. Ignored without `manifest`.
   */
  verified?: boolean
  /**
   * This upgrade goes back to an older release (the runtime reverting an unhealthy candidate): a
   * unit whose outgoing (newer) definition has `downgrade(state, toVersion)` gets its result, and
   * the older code's `codeChange` is not called for it. Units without `downgrade` migrate as on
   * any upgrade (the older `codeChange` receives the newer state and version). Default false.
   */
  revert?: boolean
}

/**
 * What `upgrade()` resolves with: `EngineStats` of @relup/core (what the runtime records), with
 * the engine's own fields and `drainMs`, `degraded`, `disposeErrors` always set.
 */
export interface SwapStats extends EngineStats {
  /** The version that was live before the upgrade. */
  fromVersion: string
  /** The version now live. */
  version: string
  /** Units the new release defines for the first time (created with `init`). */
  unitsStarted: string[]
  /** Units the new release no longer defines (disposed). */
  unitsStopped: string[]
  /** Gates closed → every in-flight call finished (part of `pauseMs`). */
  drainMs: number
  /** Replaced or stopped units whose old instance failed to dispose (counted in `unitsFailed`). */
  disposeErrors: DisposeFailure[]
  /** True when any old instance failed to dispose: the upgrade stands, but the engine is degraded. */
  degraded: boolean
  /**
   * What the upgrade noticed but did not stop for (also logged as warnings): e.g. a replaced
   * module whose code left an interval running outside its top level and outside `ctx`.
   */
  warnings: string[]
  /**
   * TypeScript and ES module transforms during prepare: how long they took (ms, cache lookups
   * included), how many ran, how many steps came from the cache (content seen before).
   */
  transform: { ms: number; transformed: number; cached: number }
}

export type EngineStatus = 'idle' | 'upgrading' | 'degraded' | 'closed'

export type UpgradeEvent =
  | { ok: true; fromVersion: string; version: string; stats: SwapStats }
  | { ok: false; fromVersion: string; version: string; error: UpgradeError }

export interface EngineEvents {
  /** After every upgrade, successful or not. */
  upgrade: UpgradeEvent
  /**
   * When a phase starts: `suspend` once the gates are closed, `commit` before the switch (the old
   * version is still live and the suspended units' gates are still closed), `dispose` after the
   * gates reopened.
   */
  phase: { phase: UpgradePhase | 'dispose'; fromVersion: string; version: string }
  status: EngineStatus
}

/**
 * A unit's API as seen through its stable handle: every method returns a promise, because a call
 * that arrives while the unit is suspended waits at the gate.
 */
export type UnitHandle<Api> = {
  readonly [K in keyof Api]: Api[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : Api[K]
}
