/**
 * The swap engine: loads a release with its own module cache, serves it through stable handles,
 * and replaces it with `upgrade()`, an Erlang-style transaction that reads top to bottom:
 * refuse → prepare → suspend → migrate → commit → dispose. Nothing before the commit has any
 * effect on the live version, so any failure before it leaves the old version serving, untouched.
 */
import { statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, join, resolve } from 'node:path'
import { type ModuleManifest, parseModuleManifest } from '@relup/core'
import {
  EngineClosedError,
  HandleError,
  NativeAddonRequireError,
  ReleaseLoadError,
  RestartRequiredError,
  UpgradeError,
  type UpgradePhase,
} from './errors.js'
import { drain, Gate } from './gate.js'
import { createModuleHandle, createUnitHandle } from './handles.js'
import { manifestMismatches, type ReleaseFiles, readReleaseFiles } from './manifest.js'
import { planReload, type ReloadPlan } from './plan.js'
import {
  refuseAddonRequires,
  refuseIncompatible,
  refuseStaticDependencyChange,
  staticDependencies,
} from './refuse.js'
import { isHotScript, type ModuleRecord, moduleThatThrew, Release } from './release.js'
import type {
  DisposeFailure,
  EngineEvents,
  EngineStatus,
  Logger,
  SwapEngineOptions,
  SwapStats,
  UnitHandle,
  UpgradeOptions,
} from './types.js'
import { isThenable, type UnitApi, type UnitDefinition, UnitInstance, unitDefinitionProblem } from './unit.js'

export const DEFAULT_SUSPEND_TIMEOUT = 10_000
export const DEFAULT_DISPOSE_TIMEOUT = 5_000

/** A unit a release defines, and the module record (that version's code) that defines it. */
interface UnitBinding {
  name: string
  definition: UnitDefinition
  record: ModuleRecord
}

/** One upgrade in progress: what it replaces, and the phase it reached (for unexpected errors). */
interface Transaction {
  from: Release
  dir: string
  version: string
  phase: UpgradePhase
}

/** What an upgrade changes, decided in prepare. */
interface Change {
  /** Modules the new release evaluated (changed, added, or depending on a change). */
  moduleNames: string[]
  bindings: UnitBinding[]
  /** Units whose new code gets the old state. */
  replaced: UnitBinding[]
  /** Units the new release adds. */
  started: UnitBinding[]
  /** Units the new release no longer defines. */
  stopped: string[]
  /** `replaced` and `stopped`: the units whose gates close. */
  suspended: string[]
}

function upgradeError(tx: Transaction, code: string, problem: string, extra: object = {}): UpgradeError {
  return new UpgradeError(code, problem, {
    phase: tx.phase,
    fromVersion: tx.from.version,
    version: tx.version,
    ...extra,
  })
}

/** A hook broke the unit contract or threw while migrating; the message says which. */
class MigrationProblem extends Error {}

/** A problem with what a module exports as units, found while loading. */
class UnitDefinitionProblem extends Error {
  constructor(
    readonly module: string,
    message: string,
  ) {
    super(message)
  }
}

const describe = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : `a non-error value (${String(error)})`

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Load the initial release, evaluate it and start its units. */
export function createSwapEngine<Deps = unknown>(
  options: SwapEngineOptions<Deps>,
): Promise<SwapEngine<Deps>> {
  return SwapEngine.create(options)
}

export class SwapEngine<Deps = unknown> {
  private current: Release
  private readonly log: Logger
  private readonly hostRequire: NodeJS.Require
  private readonly entries: string[] | undefined
  private readonly deps: Deps
  private readonly disposeTimeout: number
  private readonly eagerCompile: boolean
  private readonly gates = new Map<string, Gate>()
  private readonly unitHandles = new Map<string, unknown>()
  private readonly moduleHandles = new Map<string, unknown>()
  private readonly listeners: { [E in keyof EngineEvents]: Set<(payload: EngineEvents[E]) => void> } = {
    upgrade: new Set(),
    phase: new Set(),
    status: new Set(),
  }
  /** Upgrades run one at a time, in call order: each waits for the previous to settle. */
  private queue: Promise<void> = Promise.resolve()
  private upgradesPending = 0
  private degraded = false
  private closing: Promise<void> | undefined
  private currentStatus: EngineStatus = 'idle'

  private constructor(options: SwapEngineOptions<Deps>, hostRequire: NodeJS.Require, base: Release) {
    this.log = {
      debug: () => {},
      info: () => {},
      warn: (obj, message) => console.warn(`[relup/swap] ${typeof obj === 'string' ? obj : (message ?? '')}`),
      error: (obj, message) =>
        console.error(`[relup/swap] ${typeof obj === 'string' ? obj : (message ?? '')}`),
      ...options.logger,
    }
    this.hostRequire = hostRequire
    this.entries = options.entries
    this.deps = options.deps as Deps
    this.disposeTimeout = options.disposeTimeout ?? DEFAULT_DISPOSE_TIMEOUT
    this.eagerCompile = options.compile !== 'lazy'
    this.current = base
  }

  /** @internal use `createSwapEngine` */
  static async create<Deps>(options: SwapEngineOptions<Deps>): Promise<SwapEngine<Deps>> {
    const dir = resolve(options.releaseDir)
    const version = options.version ?? 'base'
    let files: ReleaseFiles
    try {
      files = await readReleaseFiles(dir)
    } catch (error) {
      throw new ReleaseLoadError(dir, `it cannot be read (${describe(error)})`, { cause: error })
    }
    let manifest = files.manifest
    if (options.manifest) {
      try {
        manifest = parseModuleManifest(options.manifest)
      } catch (error) {
        throw new ReleaseLoadError(dir, `the manifest is malformed (${describe(error)})`, { cause: error })
      }
      const problems = manifestMismatches(manifest, files.manifest)
      if (problems.length > 0) {
        throw new ReleaseLoadError(dir, `its files do not match the manifest: ${summarize(problems)}`)
      }
    }
    if (manifest.nodeAbi !== null && manifest.nodeAbi !== process.versions.modules) {
      throw new ReleaseLoadError(
        dir,
        `it was built for Node ABI ${manifest.nodeAbi}, this process runs ABI ${process.versions.modules}`,
      )
    }

    const hostRequire = options.hostRequire ?? hostRequireFrom(options.resolveFrom ?? process.cwd())
    // The base release may load native addons: they are the ones the process was built with.
    const base = new Release({
      dir,
      version,
      manifest,
      contents: files.contents,
      hostRequire,
      loadsAddons: true,
      eagerCompile: options.compile !== 'lazy',
    })
    base.staticDependencies = staticDependencies(files.contents)
    const engine = new SwapEngine(options, hostRequire, base)

    let bindings: UnitBinding[]
    try {
      for (const path of engine.entriesOf(base)) base.load(path)
      bindings = engine.bindUnits(base)
    } catch (error) {
      const module = error instanceof UnitDefinitionProblem ? error.module : moduleThatThrew(error)
      const where = module ? `${module}: ` : ''
      throw new ReleaseLoadError(dir, `${where}${describe(error)}`, { module, cause: error })
    }
    for (const { name, definition, record } of bindings) {
      try {
        const state = initialState(definition)
        base.units.set(
          name,
          UnitInstance.start(name, definition, record.path, engine.scopeOptions(name, version), state),
        )
      } catch (error) {
        await Promise.all([...base.units.values()].map((instance) => instance.dispose(engine.disposeTimeout)))
        throw new ReleaseLoadError(dir, `unit ${name} could not start (${describe(error)})`, {
          module: record.path,
          cause: error,
        })
      }
    }
    base.contents = null
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
   * A stable handle to a module of the release (`'handler.js'`, `'./routes'`): each access reads
   * the current version's exports; callable when the module exports a function. What you copy out
   * of it (`const { f } = handle`) is the version of that moment and stays so.
   */
  module<T = any>(path: string): T {
    const resolved = this.current.resolveEntry(path)
    if (resolved === undefined) throw HandleError.unknownModule(path, this.current.version)
    let handle = this.moduleHandles.get(resolved)
    if (!handle) {
      const exportsNow = () => this.currentExports(resolved)
      handle = createModuleHandle(exportsNow, typeof exportsNow() === 'function')
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
    const run = this.queue.then(() => this.transaction(dir, version, options))
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
          this.log.error(`unit ${instances[index]!.name} failed to dispose: ${describe(error)}`)
      })
      this.setStatus('closed')
    })()
    return this.closing
  }

  /** The upgrade, phase by phase. Everything before `commit` leaves the live version untouched. */
  private async transaction(dir: string, version: string, options: UpgradeOptions): Promise<SwapStats> {
    const started = performance.now()
    const tx: Transaction = { from: this.current, dir, version, phase: 'refuse' }
    const versions = { fromVersion: tx.from.version, version }
    try {
      if (this.closing) throw new EngineClosedError(versions)
      const { next, plan } = await this.refuse(tx, options)
      const change = this.prepare(tx, next, plan)
      const { gates, pauseStart, drainMs } = await this.suspend(tx, change, options.suspendTimeout)
      const created = this.migrate(tx, change, gates)
      this.commit(tx, next, plan, change, created)
      const pauseMs = performance.now() - pauseStart
      for (const gate of gates) gate.open()
      this.emit('phase', { phase: 'commit', ...versions })

      // Dispose the replaced instances. Failures degrade the engine; they never roll back.
      this.emit('phase', { phase: 'dispose', ...versions })
      const disposeErrors = await this.disposeAll(change.suspended.map((name) => tx.from.units.get(name)!))
      if (disposeErrors.length > 0) this.degraded = true

      const stats: SwapStats = {
        modulesReloaded: change.moduleNames.length,
        moduleNames: change.moduleNames,
        unitsMigrated: change.replaced.length,
        unitNames: change.replaced.map((b) => b.name).sort(),
        unitsFailed: 0,
        pauseMs,
        totalMs: performance.now() - started,
        fromVersion: tx.from.version,
        version,
        unitsStarted: change.started.map((b) => b.name).sort(),
        unitsStopped: [...change.stopped].sort(),
        drainMs,
        disposeErrors,
        degraded: disposeErrors.length > 0,
      }
      this.log.info({ ...stats }, `upgraded ${tx.from.version} → ${version}`)
      this.emit('upgrade', { ok: true, ...versions, stats })
      return stats
    } catch (caught) {
      const error =
        caught instanceof UpgradeError
          ? caught
          : upgradeError(tx, UpgradeError.code, `unexpected ${describe(caught)}`, { cause: caught })
      this.log.error({ code: error.code, phase: error.phase }, error.message)
      this.emit('upgrade', { ok: false, ...versions, error })
      throw error
    }
  }

  /**
   * 1. Refuse: read and verify the release, and refuse what cannot be swapped in place (native
   * addons, another ABI, static dependencies) before anything of it is evaluated.
   */
  private async refuse(
    tx: Transaction,
    options: UpgradeOptions,
  ): Promise<{ next: Release; plan: ReloadPlan }> {
    const versions = { fromVersion: tx.from.version, version: tx.version }
    this.emit('phase', { phase: 'refuse', ...versions })
    let published: ModuleManifest | undefined
    if (options.manifest) {
      try {
        published = parseModuleManifest(options.manifest)
      } catch (error) {
        const problem = `the manifest is malformed (${describe(error)})`
        throw upgradeError(tx, UpgradeError.manifestMismatchCode, problem, { cause: error })
      }
      refuseIncompatible(tx.from.manifest, published, versions)
    }
    let files: ReleaseFiles
    try {
      files = await readReleaseFiles(tx.dir)
    } catch (error) {
      const problem = `the release directory ${tx.dir} cannot be read (${describe(error)})`
      throw upgradeError(tx, UpgradeError.code, problem, { cause: error })
    }
    if (published) {
      const problems = manifestMismatches(published, files.manifest)
      if (problems.length > 0) {
        const problem = `the files in ${tx.dir} do not match the published manifest (${summarize(problems)}); download the release again`
        throw upgradeError(tx, UpgradeError.manifestMismatchCode, problem)
      }
    }
    const manifest = published ?? files.manifest
    const diff = refuseIncompatible(tx.from.manifest, manifest, versions)
    const dependencies = staticDependencies(files.contents)
    refuseStaticDependencyChange(tx.from.staticDependencies, dependencies, versions)

    const next = new Release({
      dir: tx.dir,
      version: tx.version,
      manifest,
      contents: files.contents,
      hostRequire: this.hostRequire,
      loadsAddons: false,
      eagerCompile: this.eagerCompile,
    })
    next.staticDependencies = dependencies
    let entries: string[]
    try {
      entries = this.entriesOf(next)
    } catch (error) {
      throw upgradeError({ ...tx, phase: 'prepare' }, UpgradeError.prepareCode, describe(error))
    }
    const plan = planReload(tx.from, diff, entries)
    refuseAddonRequires(plan.evaluate, files.contents, versions)
    return { next, plan }
  }

  /**
   * 2. Prepare: evaluate what changed and what depends on it in the new release's own cache,
   * sharing the rest; find the units it defines. No effect on the live version.
   */
  private prepare(tx: Transaction, next: Release, plan: ReloadPlan): Change {
    tx.phase = 'prepare'
    this.emit('phase', { phase: tx.phase, fromVersion: tx.from.version, version: tx.version })
    for (const record of plan.reuse) next.adopt(record)
    let bindings: UnitBinding[]
    try {
      for (const path of plan.evaluate) next.load(path)
      bindings = this.bindUnits(next)
    } catch (error) {
      if (error instanceof NativeAddonRequireError) {
        throw new RestartRequiredError('native-addon', [`${error.module} requires ${error.addon}`], {
          fromVersion: tx.from.version,
          version: tx.version,
        })
      }
      const definition = error instanceof UnitDefinitionProblem
      const module = definition ? error.module : moduleThatThrew(error)
      const what = definition
        ? error.message
        : `${module ?? 'a module'} threw while loading: ${describe(error)}`
      throw upgradeError(tx, UpgradeError.prepareCode, `${what}; fix it and publish a new version`, {
        module,
        cause: error,
      })
    }
    const reused = new Set(plan.reuse)
    const fresh = bindings.filter((binding) => !reused.has(binding.record))
    const replaced = fresh.filter((binding) => tx.from.units.has(binding.name))
    const defined = new Set(bindings.map((binding) => binding.name))
    const stopped = [...tx.from.units.keys()].filter((name) => !defined.has(name))
    return {
      moduleNames: [...next.modules.values()]
        .filter((record) => !reused.has(record))
        .map((record) => record.path)
        .sort(),
      bindings,
      replaced,
      started: fresh.filter((binding) => !tx.from.units.has(binding.name)),
      stopped,
      // Only the units whose code changes or goes away are suspended; every other unit keeps serving.
      suspended: [...replaced.map((binding) => binding.name), ...stopped],
    }
  }

  /**
   * 3. Suspend: close the gates of the affected units (new calls wait), and let their in-flight
   * calls finish on the old version. Synchronous when nothing is in flight.
   */
  private async suspend(
    tx: Transaction,
    change: Change,
    timeout = DEFAULT_SUSPEND_TIMEOUT,
  ): Promise<{ gates: Gate[]; pauseStart: number; drainMs: number }> {
    tx.phase = 'suspend'
    const gates = change.suspended.map((name) => this.gate(name))
    const pauseStart = performance.now()
    for (const gate of gates) gate.close()
    this.emit('phase', { phase: tx.phase, fromVersion: tx.from.version, version: tx.version })
    const idle = drain(gates, timeout)
    if (idle !== true && !(await idle)) {
      const busy = change.suspended.filter((name) => this.gate(name).inFlight > 0)
      for (const gate of gates) gate.open()
      const problem =
        `in-flight calls to ${busy.join(', ')} did not finish within ${timeout} ms (raise suspendTimeout, ` +
        'or make long-lived work a unit that hands over through its state)'
      throw upgradeError(tx, UpgradeError.drainTimeoutCode, problem, { unit: busy[0] })
    }
    return { gates, pauseStart, drainMs: performance.now() - pauseStart }
  }

  /**
   * 4. Migrate (synchronous from here to the reopened gates): build the new instances from a
   * structured clone of the old state. A throw discards them; the old instances never changed.
   */
  private migrate(tx: Transaction, change: Change, gates: Gate[]): Map<string, UnitInstance> {
    tx.phase = 'migrate'
    this.emit('phase', { phase: tx.phase, fromVersion: tx.from.version, version: tx.version })
    const created = new Map<string, UnitInstance>()
    for (const binding of [...change.replaced, ...change.started]) {
      try {
        const previous = tx.from.units.get(binding.name)
        const state = previous ? migrateState(binding.definition, previous) : initialState(binding.definition)
        const scope = this.scopeOptions(binding.name, tx.version)
        created.set(
          binding.name,
          UnitInstance.start(binding.name, binding.definition, binding.record.path, scope, state),
        )
      } catch (error) {
        for (const instance of created.values()) void this.disposeQuietly(instance)
        for (const gate of gates) gate.open()
        const reason =
          error instanceof MigrationProblem ? error.message : `create(ctx) threw ${describe(error)}`
        throw upgradeError(tx, UpgradeError.migrateCode, `unit ${binding.name}: ${reason}`, {
          unit: binding.name,
          module: binding.record.path,
          cause: error,
        })
      }
    }
    return created
  }

  /** 5. Commit: one synchronous block, so no call can observe a mix of versions. */
  private commit(
    tx: Transaction,
    next: Release,
    plan: ReloadPlan,
    change: Change,
    created: Map<string, UnitInstance>,
  ): void {
    tx.phase = 'commit'
    for (const { name } of change.bindings)
      next.units.set(name, created.get(name) ?? tx.from.units.get(name)!)
    for (const record of plan.reuse) record.owner = next
    next.contents = null
    this.current = next
  }

  private async disposeAll(instances: UnitInstance[]): Promise<DisposeFailure[]> {
    const results = await Promise.all(instances.map((instance) => instance.dispose(this.disposeTimeout)))
    const failures: DisposeFailure[] = []
    results.forEach((errors, index) => {
      const instance = instances[index]!
      for (const error of errors) {
        failures.push({ unit: instance.name, version: instance.version, message: describe(error) })
        this.log.error(
          `unit ${instance.name} (${instance.version}) failed to dispose: ${describe(error)}; the engine is ` +
            'degraded (the old instance may still hold resources): restart the process when convenient',
        )
      }
    })
    return failures
  }

  private async disposeQuietly(instance: UnitInstance): Promise<void> {
    for (const error of await instance.dispose(this.disposeTimeout)) {
      this.log.warn(`discarded instance of unit ${instance.name} failed to dispose: ${describe(error)}`)
    }
  }

  private entriesOf(release: Release): string[] {
    if (!this.entries) return Object.keys(release.manifest.files).filter(isHotScript)
    return this.entries.map((entry) => {
      const path = release.resolveEntry(entry)
      if (path === undefined) throw new Error(`entry ${entry} is not in release ${release.version}`)
      return path
    })
  }

  /** The units a release defines: `exports.units = { name: definition }` of its script modules. */
  private bindUnits(release: Release): UnitBinding[] {
    const bindings: UnitBinding[] = []
    const definedIn = new Map<string, string>()
    for (const record of release.modules.values()) {
      const exported = record.isScript ? record.module.exports : undefined
      if ((typeof exported !== 'object' && typeof exported !== 'function') || exported === null) continue
      const units: unknown = exported.units
      // `exports.units` is reserved for unit definitions; anything but a plain object is ignored.
      if (!isPlainObject(units)) continue
      for (const [name, definition] of Object.entries(units)) {
        const problem = unitDefinitionProblem(definition)
        if (problem)
          throw new UnitDefinitionProblem(record.path, `unit ${name} exported by ${record.path} ${problem}`)
        const other = definedIn.get(name)
        if (other)
          throw new UnitDefinitionProblem(
            record.path,
            `unit ${name} is defined twice, in ${other} and ${record.path}`,
          )
        definedIn.set(name, record.path)
        bindings.push({ name, definition: definition as UnitDefinition, record })
      }
    }
    return bindings
  }

  private scopeOptions(name: string, version: string) {
    return {
      name,
      version,
      deps: this.deps,
      track: (result: unknown) => {
        if (isThenable(result)) void this.gate(name).track(result)
      },
      unit: (other: string) => this.unitHandle(other),
      warn: (message: string) => this.log.warn(message),
    }
  }

  /** A handle without the existence check: `ctx.unit()` may name a unit its own upgrade starts. */
  private unitHandle(name: string): unknown {
    let handle = this.unitHandles.get(name)
    if (!handle) {
      handle = createUnitHandle({ gate: this.gate(name), current: () => this.currentInstance(name) })
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
        this.log.warn(`a "${event}" listener threw: ${describe(error)}`)
      }
    }
  }
}

function initialState(definition: UnitDefinition): unknown {
  const state = definition.init?.()
  if (isThenable(state))
    throw new MigrationProblem('init() returned a promise; it must return the state synchronously')
  return state
}

/** The old instance's state crosses as a structured clone: plain data, never the old version's objects. */
function migrateState(definition: UnitDefinition, previous: UnitInstance): unknown {
  let exported: unknown
  try {
    exported = structuredClone(previous.scope.state)
  } catch (error) {
    throw new MigrationProblem(
      `its state is not plain data (${describe(error)}); keep only structured-clone-able values in ctx.state`,
    )
  }
  if (!definition.codeChange) return exported
  let migrated: unknown
  try {
    migrated = definition.codeChange(exported, previous.version)
  } catch (error) {
    throw new MigrationProblem(`codeChange(state, '${previous.version}') threw ${describe(error)}`, {
      cause: error,
    })
  }
  if (isThenable(migrated))
    throw new MigrationProblem('codeChange() returned a promise; it must migrate synchronously')
  return migrated
}

function hostRequireFrom(location: string | URL): NodeJS.Require {
  if (location instanceof URL || location.startsWith('file:')) return createRequire(location)
  const path = resolve(location)
  let isDirectory = false
  try {
    isDirectory = statSync(path).isDirectory()
  } catch {
    // A file that does not exist yet is fine: only its directory matters for resolution.
  }
  return createRequire(isDirectory ? join(path, 'noop.js') : path)
}

function summarize(problems: string[]): string {
  const shown = problems.slice(0, 5).join('; ')
  return problems.length > 5 ? `${shown}; and ${problems.length - 5} more` : shown
}
