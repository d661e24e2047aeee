import { RelupError } from '@relup/core'

/** The upgrade phases, in order. `refuse` runs before anything of the new release is evaluated. */
export type UpgradePhase = 'refuse' | 'prepare' | 'suspend' | 'migrate' | 'commit'

interface UpgradeErrorDetails {
  phase: UpgradePhase
  /** The version that was live when the upgrade started, and still is. */
  fromVersion: string
  /** The version the upgrade tried to reach. */
  version: string
  unit?: string | undefined
  module?: string | undefined
  cause?: unknown
}

/**
 * An upgrade failed and was rolled back: nothing of the new release is live, the previous version
 * keeps serving with its state untouched. `code` says which phase-specific problem it was.
 */
export class UpgradeError extends RelupError {
  static readonly code: string = 'ERR_RELUP_UPGRADE_FAILED'
  static readonly prepareCode = 'ERR_RELUP_PREPARE_FAILED'
  static readonly drainTimeoutCode = 'ERR_RELUP_DRAIN_TIMEOUT'
  static readonly migrateCode = 'ERR_RELUP_MIGRATE_FAILED'
  static readonly manifestMismatchCode = 'ERR_RELUP_MANIFEST_MISMATCH'

  readonly phase: UpgradePhase
  readonly fromVersion: string
  readonly version: string
  /** The unit whose drain or migration failed, when one did. */
  readonly unit: string | undefined
  /** The release-relative path of the module that failed to load, when one did. */
  readonly module: string | undefined

  constructor(code: string, problem: string, details: UpgradeErrorDetails) {
    super(
      code,
      `upgrade ${details.fromVersion} → ${details.version} failed in ${details.phase}: ${problem}. ` +
        `Nothing was changed: ${details.fromVersion} keeps serving.`,
      { cause: details.cause },
    )
    this.phase = details.phase
    this.fromVersion = details.fromVersion
    this.version = details.version
    this.unit = details.unit
    this.module = details.module
  }
}

/** Why a release cannot be swapped in place. */
export type RestartReason = 'native-addon' | 'node-abi' | 'static-dependencies' | 'host-package-versions'

/**
 * The new release changes something that cannot be replaced inside a running process (a native
 * addon, the Node ABI, the static dependencies, the versions of host packages). Nothing was
 * evaluated; restart the process on a build that contains the change.
 */
export class RestartRequiredError extends UpgradeError {
  static override readonly code = 'ERR_RELUP_RESTART_REQUIRED'
  readonly reason: RestartReason
  /** What exactly differs: addon paths, ABI versions, dependency names, host package versions. */
  readonly detail: string[]

  constructor(reason: RestartReason, detail: string[], versions: { fromVersion: string; version: string }) {
    super(RestartRequiredError.code, `${explain(reason)} (${detail.join('; ')}); a restart is required`, {
      phase: 'refuse',
      ...versions,
    })
    this.message += ' Deploy this change as a new base build (restart the process), not as a hot upgrade.'
    if (reason === 'host-package-versions')
      this.message +=
        ' If the versions were not meant to change, publish from a project that has the ones the machines run installed.'
    this.reason = reason
    this.detail = detail
  }
}

function explain(reason: RestartReason): string {
  switch (reason) {
    case 'native-addon':
      return 'native addons (.node) cannot be unloaded or replaced in a running process'
    case 'node-abi':
      return 'the release was built for another Node.js ABI'
    case 'static-dependencies':
      return 'the release changes static dependencies, which are shared with the host and never reloaded'
    case 'host-package-versions':
      return (
        'the release was published against other versions of host packages than this process resolves; ' +
        'host packages are shared with the host and never reloaded, so the hot code would run against ' +
        "this process's copy"
      )
  }
}

/** `engine.upgrade()` was called after `engine.close()`. */
export class EngineClosedError extends UpgradeError {
  static override readonly code = 'ERR_RELUP_ENGINE_CLOSED'

  constructor(versions: { fromVersion: string; version: string }) {
    super(EngineClosedError.code, 'the swap engine is closed', { phase: 'refuse', ...versions })
    this.message += ' Create a new engine to load releases again.'
  }
}

/**
 * A module evaluated by an upgrade required a native addon. Addons are loaded once per process and
 * never unloaded, so only the base release may load them.
 */
export class NativeAddonRequireError extends RelupError {
  static readonly code = 'ERR_RELUP_NATIVE_ADDON_REQUIRE'
  readonly addon: string
  readonly module: string

  constructor(addon: string, module: string) {
    super(
      NativeAddonRequireError.code,
      `hot module ${module} requires the native addon ${addon}; addons can only be loaded by the base ` +
        'release. Restart the process on a build that contains this change.',
    )
    this.addon = addon
    this.module = module
  }
}

/** The initial release could not be loaded: the engine was not created. */
export class ReleaseLoadError extends RelupError {
  static readonly code = 'ERR_RELUP_RELEASE_LOAD'
  readonly releaseDir: string
  readonly module: string | undefined

  constructor(
    releaseDir: string,
    problem: string,
    details: { module?: string | undefined; cause?: unknown } = {},
  ) {
    super(
      ReleaseLoadError.code,
      `cannot load the release in ${releaseDir}: ${problem}. Fix the release and start again.`,
      { cause: details.cause },
    )
    this.releaseDir = releaseDir
    this.module = details.module
  }
}

/** A handle names a unit or module the current release does not have, or is used after `engine.close()`. */
export class HandleError extends RelupError {
  static readonly unknownUnitCode = 'ERR_RELUP_UNKNOWN_UNIT'
  static readonly unknownModuleCode = 'ERR_RELUP_UNKNOWN_MODULE'
  static readonly closedCode = 'ERR_RELUP_HANDLE_CLOSED'

  static unknownUnit(name: string, version: string, known: string[]): HandleError {
    const list = known.length > 0 ? known.join(', ') : 'none'
    return new HandleError(
      HandleError.unknownUnitCode,
      `release ${version} has no unit named "${name}" (units: ${list}); check the name or publish a release that defines it`,
    )
  }

  static unknownModule(path: string, version: string): HandleError {
    return new HandleError(
      HandleError.unknownModuleCode,
      `release ${version} has no module "${path}"; use a path relative to the release directory, e.g. "handler.js"`,
    )
  }

  static closed(what: string): HandleError {
    return new HandleError(HandleError.closedCode, `${what}: the swap engine is closed`)
  }
}

/** How a thrown value reads inside a message. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `a non-error value (${String(error)})`
}

/** What is wrong with one file of a release, found by the loader (or by `checkRelease`) before it runs. */
export type ReleaseProblemKind =
  /** Not valid JavaScript or TypeScript. */
  | 'syntax'
  /** Top-level `await` (or `for await`): hot modules are evaluated synchronously. */
  | 'top-level-await'
  /** A relative import that names no file of the release. */
  | 'unresolved-import'
  /** A relative import that leaves the release directory. */
  | 'import-outside-release'
  /** The release directory itself cannot be used (a link out, a special file, a bad name). */
  | 'release-tree'
  /**
   * A host package the hot code imports cannot be found from where host packages resolve, or a
   * static import of it cannot be loaded synchronously (a warning for `require()` and `import()`:
   * they run only when reached).
   */
  | 'unresolved-package'
  /**
   * What the engine would refuse as restart-required, given the release the machines run now
   * (`checkRelease`'s `previous`): a native addon added, changed or removed, or a module to
   * re-evaluate that requires one.
   */
  | 'restart-required'

export interface ReleaseProblem {
  kind: ReleaseProblemKind
  /** Release-relative path of the file ('' for the release itself). */
  file: string
  /** 1-based line and column in the file as it was written (TypeScript source, not compiled output). */
  line?: number | undefined
  column?: number | undefined
  /** What is wrong and what to do, without the location. */
  message: string
}

/** Where a problem is, as `file:line:column` (or less, when less is known). */
export function problemLocation(problem: Pick<ReleaseProblem, 'file' | 'line' | 'column'>): string {
  if (problem.line === undefined) return problem.file
  return `${problem.file}:${problem.line}${problem.column === undefined ? '' : `:${problem.column}`}`
}

/**
 * A hot module cannot be loaded: the loader's rules (the ones `checkRelease` applies before a
 * release is uploaded) found a problem in it. Thrown while a release loads; the `ReleaseLoadError`
 * or `UpgradeError` that reports it names the module too.
 */
export class HotModuleError extends RelupError {
  static readonly code = 'ERR_RELUP_HOT_MODULE'
  readonly problem: ReleaseProblem

  constructor(problem: ReleaseProblem, options: { cause?: unknown } = {}) {
    super(HotModuleError.code, `${problemLocation(problem)}: ${problem.message}`, options)
    this.problem = problem
  }
}
