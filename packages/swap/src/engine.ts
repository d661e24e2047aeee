/**
 * The swap engine: loads a release with its own module cache, serves it through stable handles,
 * and replaces it with `upgrade()`, a transaction (`transaction.ts`) that runs one at a time, in
 * call order. Read top to bottom, this file is the engine's lifecycle: load the base release,
 * serve it, upgrade it, close.
 */
import { basename, relative, resolve } from 'node:path'
import type { Logger, ModuleManifest } from '@relup/core'
import { CallStats, type VersionCalls } from './callStats.js'
import { DEFAULT_DISPOSE_TIMEOUT } from './constants.js'
import {
  describeError,
  EngineClosedError,
  HandleError,
  ReleaseLoadError,
  type UpgradeError,
} from './errors.js'
import { Gate } from './gate.js'
import { createModuleHandle, createUnitHandle } from './handles.js'
import {
  defaultResolveFrom,
  hostImportFrom,
  hostImportThrough,
  hostRequireFrom,
  resolveFromDirectory,
} from './hostRequire.js'
import { loadBase } from './load.js'
import { withConsoleDefaults } from './logger.js'
import { type LoadSettings, Release } from './release.js'
import { stackFilenames } from './sourceMaps.js'
import { runTransaction, type TransactionHost } from './transaction.js'
import type {
  EngineEvents,
  EngineStatus,
  SwapEngineOptions,
  SwapStats,
  UnitHandle,
  UpgradeOptions,
} from './types.js'
import type { ScopeOptions, UnitApi, UnitDefinition, UnitInstance } from './unit.js'
import { verifyRelease } from './verify.js'

/** Load the initial release, evaluate it and start its units. */
export function createSwapEngine<Deps = unknown>(
  options: SwapEngineOptions<Deps>,
): Promise<SwapEngine<Deps>> {
  return SwapEngine.create(options)
}

export class SwapEngine<Deps = unknown> {
  private current: Release
  private readonly log: Logger
  private readonly deps: Deps
  private readonly disposeTimeout: number
  private readonly gates = new Map<string, Gate>()
  private readonly unitHandles = new Map<string, unknown>()
  private readonly moduleHandles = new Map<string, unknown>()
  private readonly calls = new CallStats()
  private readonly listeners: { [E in keyof EngineEvents]: Set<(payload: EngineEvents[E]) => void> } = {
    upgrade: new Set(),
    phase: new Set(),
    status: new Set(),
  }
  /** What every transaction of this engine runs against. */
  private readonly host: TransactionHost
  /** Upgrades run one at a time, in call order: each waits for the previous to settle. */
  private queue: Promise<void> = Promise.resolve()
  private upgradesPending = 0
  private degraded = false
  private closing: Promise<void> | undefined
  private currentStatus: EngineStatus = 'idle'

  private constructor(options: SwapEngineOptions<Deps>, settings: LoadSettings, base: Release) {
    this.log = withConsoleDefaults(options.logger)
    this.deps = options.deps as Deps
    this.disposeTimeout = options.disposeTimeout ?? DEFAULT_DISPOSE_TIMEOUT
    this.current = base
    this.host = {
      current: () => this.current,
      settings,
      disposeTimeout: this.disposeTimeout,
      log: this.log,
      closing: () => this.closing !== undefined,
      gate: (name) => this.gate(name),
      scope: (name, version) => this.scope(name, version),
      phase: (event) => this.emit('phase', event),
      switchTo: (next) => {
        this.current = next
      },
    }
  }

  /** @internal use `createSwapEngine` */
  static async create<Deps>(options: SwapEngineOptions<Deps>): Promise<SwapEngine<Deps>> {
    const dir = resolve(options.releaseDir)
    const verified = await verifyRelease(dir, { published: options.manifest })
    if (!verified.ok) throw new ReleaseLoadError(dir, verified.problem, { cause: verified.cause })
    const resolveFrom = options.resolveFrom ?? defaultResolveFrom()
    const settings: LoadSettings = {
      hostRequire: options.hostRequire ?? hostRequireFrom(resolveFrom),
      hostImport: options.hostRequire ? hostImportThrough(options.hostRequire) : hostImportFrom(resolveFrom),
      resolvesFrom: options.hostRequire ? 'the hostRequire you passed' : resolveFromDirectory(resolveFrom),
      eagerCompile: options.compile !== 'lazy',
      entries: options.entries,
    }
    // The base release may load native addons: they are the ones the process was built with.
    const version = options.version ?? 'base'
    const base = new Release({ dir, version, manifest: verified.manifest, loadsAddons: true, settings })
    const engine = new SwapEngine(options, settings, base)
    await loadBase(base, (unit) => engine.scope(unit, version), engine.disposeTimeout)
    engine.log.info(
      { releaseDir: dir, modules: base.modules.size, units: [...base.units.keys()] },
      `loaded release ${version}`,
    )
    return engine
  }

  /** The version of the live release. */
  get version(): string {
    return this.current.version
  }

  /** The directory of the live release. */
  get releaseDir(): string {
    return this.current.dir
  }

  /** The manifest of the live release (computed by hashing its files, or the one it was published with). */
  get manifest(): ModuleManifest {
    return this.current.manifest
  }

  /** `public/` of the live release, or null when it has none. Switches at commit. */
  get assetsDir(): string | null {
    return this.current.assetsDir
  }

  get status(): EngineStatus {
    return this.currentStatus
  }

  /** The units the live release defines. */
  get unitNames(): string[] {
    return [...this.current.units.keys()]
  }

  /**
   * The absolute release directories the live modules' files come from: the live release's, and
   * any older one a module shared since then was first evaluated from (its `__filename` and
   * `__dirname` still point there). A runtime that prunes old releases must keep these; a
   * directory drops out once an upgrade re-evaluates the last module that came from it.
   */
  releaseDirsInUse(): string[] {
    const dirs = new Set([this.current.dir])
    for (const record of this.current.modules.values()) dirs.add(record.releaseDir)
    return [...dirs]
  }

  /**
   * A stable handle to a module of the release (`'handler.js'`, `'./routes'`): each access reads
   * the current version's exports; callable whenever the current version exports a function. What
   * you copy out of it (`const { f } = handle`) is the version of that moment and stays so.
   */
  module<T = any>(path: string): T {
    const resolved = this.current.resolveEntry(path)
    if (resolved === undefined) throw HandleError.unknownModule(path, this.current.version)
    let handle = this.moduleHandles.get(resolved)
    if (!handle) {
      // Load it now, so a module that cannot load fails here rather than on first use.
      this.currentExports(resolved)
      handle = createModuleHandle({
        path: resolved,
        current: () => ({ exports: this.currentExports(resolved), version: this.current.version }),
        calls: this.calls,
      })
      this.moduleHandles.set(resolved, handle)
    }
    return handle as T
  }

  /**
   * A stable handle to a unit: every method call goes to the current instance and returns a promise
   * (calls that arrive while the unit is suspended wait at its gate).
   * `T` is the unit's API or its definition (`engine.unit<typeof counter>('counter')`).
   */
  unit<T extends object = any>(name: string): UnitHandle<T extends UnitDefinition ? UnitApi<T> : T> {
    if (!this.unitHandles.has(name) && !this.current.units.has(name)) {
      throw HandleError.unknownUnit(name, this.current.version, [...this.current.units.keys()])
    }
    return this.unitHandle(name) as UnitHandle<T extends UnitDefinition ? UnitApi<T> : T>
  }

  /**
   * What the calls into `version` (default: the live one) did since it was first called: calls
   * through handles, those that threw or rejected, and the HTTP responses handed to them with how
   * many answered 5xx. A runtime's health gate compares a new version's rates with the previous one's.
   */
  callStats(version: string = this.current.version): VersionCalls {
    return this.calls.of(version)
  }

  /**
   * Whether `error` was thrown from code of the release in `releaseDir` (default: the live one):
   * one of its stack frames is a module evaluated from that directory. What a health gate uses to
   * tell an uncaught exception of a new version from one of the cold code.
   */
  threwFrom(error: unknown, releaseDir: string = this.current.dir): boolean {
    return stackFilenames(error).some((file) => isWithin(file, releaseDir))
  }

  /** Subscribe to engine events; returns the unsubscribe function. */
  on<E extends keyof EngineEvents>(event: E, listener: (payload: EngineEvents[E]) => void): () => void {
    const set = this.listeners[event] as Set<(payload: EngineEvents[E]) => void>
    set.add(listener)
    return () => set.delete(listener)
  }

  /**
   * Replace the live release with the one in `releaseDir`, as a transaction. Resolves with the
   * stats; rejects with an `UpgradeError` (`code`, `phase`) when nothing was changed. Upgrades are
   * serialized: a call made while another runs waits for it, then applies to what is live then.
   */
  upgrade(releaseDir: string, options: UpgradeOptions = {}): Promise<SwapStats> {
    const dir = resolve(releaseDir)
    const version = options.version ?? basename(dir)
    if (this.closing) return Promise.reject(new EngineClosedError({ fromVersion: this.version, version }))
    this.upgradesPending++
    this.setStatus('upgrading')
    const run = this.queue
      .then(() => runTransaction(this.host, dir, version, options))
      .then(
        (stats) => {
          if (stats.degraded) this.degraded = true
          this.log.info({ ...stats }, `upgraded ${stats.fromVersion} → ${stats.version}`)
          this.emit('upgrade', { ok: true, fromVersion: stats.fromVersion, version: stats.version, stats })
          return stats
        },
        (error: UpgradeError) => {
          this.log.error({ code: error.code, phase: error.phase }, error.message)
          this.emit('upgrade', { ok: false, fromVersion: error.fromVersion, version: error.version, error })
          throw error
        },
      )
    this.queue = run.then(
      () => {},
      () => {},
    )
    return run.finally(() => {
      this.upgradesPending--
      if (this.upgradesPending === 0 && !this.closing) this.setStatus(this.degraded ? 'degraded' : 'idle')
    })
  }

  /** Dispose every unit (clearing their timers and listeners); handles reject afterwards. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue
      const instances = [...this.current.units.values()]
      const results = await Promise.all(instances.map((instance) => instance.dispose(this.disposeTimeout)))
      results.forEach((errors, index) => {
        for (const error of errors)
          this.log.error(`unit ${instances[index]!.name} failed to dispose: ${describeError(error)}`)
      })
      // What the modules' top levels started stops with them.
      for (const record of this.current.modules.values()) {
        record.scope.release(this.current.version, { stopLoose: true })
      }
      this.setStatus('closed')
    })()
    return this.closing
  }

  /** The `ctx` options of a unit instance: its gate counts the async work its timers and listeners start. */
  private scope(name: string, version: string): ScopeOptions {
    return {
      name,
      version,
      deps: this.deps,
      run: (what: string, callback: () => unknown) => {
        void this.gate(name).run(`${name}: ${what}`, callback)
      },
      unit: (other: string) => this.unitHandle(other),
      warn: (message: string) => this.log.warn(message),
    }
  }

  /** A handle without the existence check: `ctx.unit()` may name a unit its own upgrade starts. */
  private unitHandle(name: string): unknown {
    let handle = this.unitHandles.get(name)
    if (!handle) {
      handle = createUnitHandle({
        gate: this.gate(name),
        current: () => this.currentInstance(name),
        calls: this.calls,
      })
      this.unitHandles.set(name, handle)
    }
    return handle
  }

  private gate(name: string): Gate {
    let gate = this.gates.get(name)
    if (!gate) {
      gate = new Gate()
      this.gates.set(name, gate)
    }
    return gate
  }

  private currentInstance(name: string): UnitInstance {
    if (this.closing) throw HandleError.closed(`unit ${name}`)
    const instance = this.current.units.get(name)
    if (!instance) throw HandleError.unknownUnit(name, this.current.version, [...this.current.units.keys()])
    return instance
  }

  private currentExports(path: string): any {
    if (this.closing) throw HandleError.closed(`module ${path}`)
    const release = this.current
    const record = release.modules.get(path) ?? (release.has(path) ? release.load(path) : undefined)
    if (!record) throw HandleError.unknownModule(path, release.version)
    return record.module.exports
  }

  private setStatus(status: EngineStatus): void {
    if (status === this.currentStatus) return
    this.currentStatus = status
    this.emit('status', status)
  }

  private emit<E extends keyof EngineEvents>(event: E, payload: EngineEvents[E]): void {
    for (const listener of this.listeners[event] as Set<(payload: EngineEvents[E]) => void>) {
      try {
        listener(payload)
      } catch (error) {
        this.log.warn(`a "${event}" listener threw: ${describeError(error)}`)
      }
    }
  }
}

/** Whether `file` is inside `dir` (both absolute). */
function isWithin(file: string, dir: string): boolean {
  const path = relative(dir, file)
  return path !== '' && !path.startsWith('..') && !path.startsWith('/')
}
