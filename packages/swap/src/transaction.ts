/**
 * The upgrade transaction, Erlang-style, phase by phase: refuse → prepare → suspend → migrate →
 * commit → dispose. Nothing before the commit has any effect on the live version, so any failure
 * before it leaves the old version serving, untouched.
 */
import { type DisposeFailure, diffManifests, type Logger } from '@relup/core'
import { DEFAULT_SUSPEND_TIMEOUT } from './constants.js'
import {
  describeError,
  EngineClosedError,
  HotModuleError,
  NativeAddonRequireError,
  RestartRequiredError,
  UpgradeError,
  type UpgradePhase,
} from './errors.js'
import { transforms } from './esmTransform.js'
import { describeCalls, drain, type Gate, LONG_LIVED_ADVICE } from './gate.js'
import { planReload, type ReloadPlan } from './plan.js'
import {
  refuseAddonChanges,
  refuseAddonRequires,
  refuseHostPackageChanges,
  refuseStaticDependencyChange,
  staticDependencies,
} from './refuse.js'
import { type LoadSettings, moduleThatThrew, Release } from './release.js'
import { discardEvaluated, disposeDiscarded, disposeReplaced, releaseReplacedModules } from './retire.js'
import type { EngineEvents, SwapStats, UpgradeOptions } from './types.js'
import { type ScopeOptions, UnitInstance } from './unit.js'
import { bindUnits, type UnitBinding, UnitDefinitionProblem } from './unitBinding.js'
import { initialState, MigrationProblem, migrateState } from './unitState.js'
import { type Verification, verifyRelease } from './verify.js'

/** What a transaction needs from the engine that runs it. */
export interface TransactionHost {
  /** The live release. */
  current(): Release
  /** Whether `close()` was called: a transaction that starts after it is refused. */
  closing(): boolean
  readonly settings: LoadSettings
  readonly disposeTimeout: number
  readonly log: Logger
  gate(unit: string): Gate
  scope(unit: string, version: string): ScopeOptions
  phase(event: EngineEvents['phase']): void
  /** Make `next` the live release: the switch inside the commit. */
  switchTo(next: Release): void
}

/** One upgrade in progress. */
export interface Transaction {
  readonly host: TransactionHost
  /** The release live when the upgrade started: live until the commit, untouched by a failure. */
  readonly from: Release
  readonly dir: string
  readonly version: string
  readonly options: UpgradeOptions
  /** The phase reached, for the error of an unexpected failure. */
  phase: UpgradePhase
}

/** What refuse let through: the new release (nothing of it evaluated yet) and what to evaluate. */
interface Accepted {
  next: Release
  plan: ReloadPlan
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

/** The closed gates, from suspend until they reopen in commit (or on an abort). */
interface Pause {
  gates: Gate[]
  startedAt: number
  drainMs: number
}

/** Run one upgrade to the end. Resolves with its stats, or rejects with an `UpgradeError`. */
export async function runTransaction(
  host: TransactionHost,
  dir: string,
  version: string,
  options: UpgradeOptions,
): Promise<SwapStats> {
  const startedAt = performance.now()
  const tx: Transaction = { host, from: host.current(), dir, version, options, phase: 'refuse' }
  try {
    if (host.closing()) throw new EngineClosedError(versionsOf(tx))
    const accepted = await refuse(tx)
    let change: Change
    let created: Map<string, UnitInstance>
    let pause: Pause
    const before = transforms.counters()
    try {
      change = prepare(tx, accepted)
      pause = await suspend(tx, change)
      created = migrate(tx, change, pause)
    } catch (error) {
      discardEvaluated(accepted.next, accepted.plan.reuse)
      throw error
    }
    const after = transforms.counters()
    const pauseMs = commit(tx, accepted, change, created, pause)
    const warnings = releaseReplacedModules(tx.from, accepted.next, host.log)
    const disposeErrors = await dispose(tx, change)
    return {
      modulesReloaded: change.moduleNames.length,
      moduleNames: change.moduleNames,
      unitsMigrated: change.replaced.length,
      unitNames: change.replaced.map((binding) => binding.name).sort(),
      unitsFailed: new Set(disposeErrors.map((failure) => failure.unit)).size,
      pauseMs,
      totalMs: performance.now() - startedAt,
      fromVersion: tx.from.version,
      version,
      unitsStarted: change.started.map((binding) => binding.name).sort(),
      unitsStopped: [...change.stopped].sort(),
      drainMs: pause.drainMs,
      disposeErrors,
      degraded: disposeErrors.length > 0,
      warnings,
      transform: {
        ms: after.spentMs - before.spentMs,
        transformed: after.misses - before.misses,
        cached: after.hits - before.hits,
      },
    }
  } catch (caught) {
    if (caught instanceof UpgradeError) throw caught
    throw upgradeError(tx, UpgradeError.code, `unexpected ${describeError(caught)}`, { cause: caught })
  }
}

/**
 * 1. Refuse: verify the release (the one verification the first load uses too), and refuse what
 * cannot be swapped in place (native addons, another ABI, other host package versions, static
 * dependencies) before anything of it is evaluated. Only `package.json` and the modules to
 * evaluate are read (and the `package.json` of each host package the release was published against).
 */
async function refuse(tx: Transaction): Promise<Accepted> {
  const { host, from } = tx
  const versions = versionsOf(tx)
  host.phase({ phase: 'refuse', ...versions })
  const verified = await verifyRelease(tx.dir, {
    published: tx.options.manifest,
    filesVerified: tx.options.verified === true,
    // A published manifest alone shows changed addons and host packages: refuse them before hashing anything.
    precheck: (published) => {
      refuseAddonChanges(diffManifests(from.manifest, published), from.manifest, published, versions)
      refuseHostPackageChanges(published, host.settings, versions)
    },
  })
  if (!verified.ok) throw refusal(tx, verified)
  const { manifest } = verified
  const diff = diffManifests(from.manifest, manifest)
  refuseAddonChanges(diff, from.manifest, manifest, versions)

  const next = new Release({
    dir: tx.dir,
    version: tx.version,
    manifest,
    loadsAddons: false,
    settings: host.settings,
  })
  next.staticDependencies = staticDependencies(next)
  refuseStaticDependencyChange(from.staticDependencies, next.staticDependencies, versions)
  let entries: string[]
  try {
    entries = next.entryPaths()
  } catch (error) {
    throw upgradeError({ ...tx, phase: 'prepare' }, UpgradeError.prepareCode, describeError(error))
  }
  const plan = planReload(from, diff, entries)
  refuseAddonRequires(next, plan.evaluate, versions)
  return { next, plan }
}

/**
 * 2. Prepare: evaluate what changed and what depends on it in the new release's own cache,
 * sharing the rest; find the units it defines. No effect on the live version.
 */
function prepare(tx: Transaction, { next, plan }: Accepted): Change {
  tx.phase = 'prepare'
  tx.host.phase({ phase: tx.phase, ...versionsOf(tx) })
  for (const record of plan.reuse) next.adopt(record)
  let bindings: UnitBinding[]
  try {
    for (const path of plan.evaluate) next.load(path)
    bindings = bindUnits(next)
  } catch (error) {
    if (error instanceof NativeAddonRequireError) {
      throw new RestartRequiredError(
        'native-addon',
        [`${error.module} requires ${error.addon}`],
        versionsOf(tx),
      )
    }
    const definition = error instanceof UnitDefinitionProblem
    const module = definition ? error.module : moduleThatThrew(error)
    const what =
      definition || error instanceof HotModuleError
        ? error.message
        : `${module ?? 'a module'} threw while loading: ${describeError(error)}`
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
async function suspend(tx: Transaction, change: Change): Promise<Pause> {
  tx.phase = 'suspend'
  const timeout = tx.options.suspendTimeout ?? DEFAULT_SUSPEND_TIMEOUT
  const pendingOf = (name: string) =>
    tx.host
      .gate(name)
      .pending()
      .map((call) => ({ unit: name, call }))
  // A call that already held an earlier upgrade back for the whole timeout would freeze the unit
  // again: fail now, with the gates never closed, and say how to restructure it.
  const stalled = change.suspended.flatMap(pendingOf).filter(({ call }) => call.heldBackDrain)
  if (stalled.length > 0) {
    const problem =
      `${describeCalls(stalled.map(({ call }) => call))} already held back an earlier upgrade until its ` +
      `suspendTimeout and ${stalled.length === 1 ? 'is' : 'are'} still pending, so this attempt fails at once ` +
      `instead of freezing the unit again; ${LONG_LIVED_ADVICE}`
    throw upgradeError(tx, UpgradeError.drainTimeoutCode, problem, { unit: stalled[0]!.unit })
  }
  const gates = change.suspended.map((name) => tx.host.gate(name))
  const startedAt = performance.now()
  for (const gate of gates) gate.close()
  tx.host.phase({ phase: tx.phase, ...versionsOf(tx) })
  const idle = drain(gates, timeout)
  if (idle !== true && !(await idle)) {
    const busy = change.suspended.flatMap(pendingOf)
    for (const { call } of busy) call.heldBackDrain = true
    for (const gate of gates) gate.open()
    const problem =
      `in-flight calls did not finish within ${timeout} ms: ${describeCalls(busy.map(({ call }) => call))}. ` +
      `If they do finish, raise suspendTimeout; ${LONG_LIVED_ADVICE}`
    throw upgradeError(tx, UpgradeError.drainTimeoutCode, problem, { unit: busy[0]?.unit })
  }
  return { gates, startedAt, drainMs: performance.now() - startedAt }
}

/**
 * 4. Migrate (synchronous from here to the reopened gates): build the new instances from a
 * structured clone of the old state. A throw discards them; the old instances never changed.
 */
function migrate(tx: Transaction, change: Change, pause: Pause): Map<string, UnitInstance> {
  tx.phase = 'migrate'
  tx.host.phase({ phase: tx.phase, ...versionsOf(tx) })
  const created = new Map<string, UnitInstance>()
  for (const binding of [...change.replaced, ...change.started]) {
    try {
      const previous = tx.from.units.get(binding.name)
      const state = previous
        ? migrateState(binding.definition, previous, tx.options.revert === true ? tx.version : null)
        : initialState(binding.definition)
      const scope = tx.host.scope(binding.name, tx.version)
      created.set(
        binding.name,
        UnitInstance.start(binding.name, binding.definition, binding.record.path, scope, state),
      )
    } catch (error) {
      for (const instance of created.values()) void disposeDiscarded(tx.host, instance)
      for (const gate of pause.gates) gate.open()
      const reason =
        error instanceof MigrationProblem ? error.message : `create(ctx) threw ${describeError(error)}`
      throw upgradeError(tx, UpgradeError.migrateCode, `unit ${binding.name}: ${reason}`, {
        unit: binding.name,
        module: binding.record.path,
        cause: error,
      })
    }
  }
  return created
}

/**
 * 5. Commit: switch every handle in one synchronous block, so no call can observe a mix of
 * versions, then reopen the gates: parked calls run on the new version, in arrival order.
 * Returns the pause (gates closed → reopened).
 */
function commit(
  tx: Transaction,
  { next, plan }: Accepted,
  change: Change,
  created: Map<string, UnitInstance>,
  pause: Pause,
): number {
  tx.phase = 'commit'
  // Fired as the commit starts: the old version is still live, the gates still closed.
  tx.host.phase({ phase: tx.phase, ...versionsOf(tx) })
  for (const { name } of change.bindings) next.units.set(name, created.get(name) ?? tx.from.units.get(name)!)
  for (const record of plan.reuse) record.owner = next
  tx.host.switchTo(next)
  const pauseMs = performance.now() - pause.startedAt
  for (const gate of pause.gates) gate.open()
  return pauseMs
}

/** 6. Dispose the replaced and stopped instances. Failures degrade the engine; they never roll back. */
function dispose(tx: Transaction, change: Change): Promise<DisposeFailure[]> {
  tx.host.phase({ phase: 'dispose', ...versionsOf(tx) })
  const instances: UnitInstance[] = []
  for (const name of change.suspended) instances.push(tx.from.units.get(name)!)
  return disposeReplaced(instances, tx.host)
}

/** The refuse-phase error for a release that failed verification. */
function refusal(tx: Transaction, failed: Extract<Verification, { ok: false }>): UpgradeError {
  const { kind, problem, cause } = failed
  const unusable = `the release in ${tx.dir} cannot be used: ${problem}`
  switch (kind) {
    case 'node-abi':
      return new RestartRequiredError('node-abi', [problem], versionsOf(tx))
    case 'malformed-manifest':
      return upgradeError(tx, UpgradeError.manifestMismatchCode, problem, { cause })
    case 'manifest-mismatch':
      return upgradeError(tx, UpgradeError.manifestMismatchCode, `${unusable}; download the release again`)
    case 'release-tree':
    case 'unreadable':
      return upgradeError(tx, UpgradeError.code, unusable, { cause })
  }
}

function upgradeError(tx: Transaction, code: string, problem: string, extra: object = {}): UpgradeError {
  return new UpgradeError(code, problem, { phase: tx.phase, ...versionsOf(tx), ...extra })
}

function versionsOf(tx: Transaction): { fromVersion: string; version: string } {
  return { fromVersion: tx.from.version, version: tx.version }
}
