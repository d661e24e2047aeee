import { RelupError } from '@relup/core'

/** The startup replay could not bring the machine to the pointer's version (with `onStartupFailure: 'throw'`). */
export class StartupError extends RelupError {
  static readonly code = 'ERR_RELUP_STARTUP'
  constructor(message: string, options?: { cause?: unknown }) {
    super(StartupError.code, message, options)
  }
}

/** The pointer's artifact is missing from storage. */
export class ArtifactMissingError extends RelupError {
  static readonly code = 'ERR_RELUP_ARTIFACT_MISSING'
  constructor(key: string, version: string) {
    super(
      ArtifactMissingError.code,
      `artifact ${key} of ${version} is not in storage; the upgrade was not applied. Publish it again or roll back.`,
    )
  }
}

/** `currentVsn()` cannot tell which of several runtimes in this process is meant. */
export class AmbiguousVersionError extends RelupError {
  static readonly code = 'ERR_RELUP_AMBIGUOUS_VSN'
  constructor(app: string | undefined, apps: string[]) {
    const names = [...new Set(apps)].map((name) => JSON.stringify(name)).join(', ')
    super(
      AmbiguousVersionError.code,
      app === undefined
        ? `currentVsn() is ambiguous: ${apps.length} relup runtimes run in this process (apps ${names}); call currentVsn('<app>') or the runtime's own relup.currentVsn()`
        : `currentVsn(${JSON.stringify(app)}) is ambiguous: ${apps.length} relup runtimes of that app run in this process; call each runtime's own relup.currentVsn()`,
    )
  }
}

/** Another live process already runs with this machine id and state directory. */
export class MachineIdInUseError extends RelupError {
  static readonly code = 'ERR_RELUP_MACHINE_ID_IN_USE'
  readonly machineId: string
  readonly pid: number
  constructor(machineId: string, stateDir: string, holder: { pid: number; host: string | null }) {
    super(
      MachineIdInUseError.code,
      `machine id ${JSON.stringify(machineId)} is already in use by ${holder.pid === process.pid ? 'another relup runtime in this process' : `process ${holder.pid}${holder.host ? ` on ${holder.host}` : ''}`} (state directory ${stateDir}); every process needs its own: set RELUP_MACHINE_ID (the machineId option) and RELUP_STATE_DIR (stateDir) per process, or leave both unset (PM2 and node:cluster workers then get their own)`,
    )
    this.machineId = machineId
    this.pid = holder.pid
  }
}

/** This machine's base has the pointer's `baseRef` but other contents: it was rebuilt under the same ref. */
export class BaseRebuiltError extends RelupError {
  static readonly code = 'ERR_RELUP_BASE_REBUILT'
  constructor(baseRef: string, digests: { machine: string; fleet: string }) {
    super(
      BaseRebuiltError.code,
      `this machine's base was rebuilt under the same baseRef ${JSON.stringify(baseRef)} (its base digest ${digests.machine}, the fleet's ${digests.fleet}): it runs its fresh base code and applies none of the fleet's hot upgrades, which were made for other code. Set a new RELUP_BASE_REF (the baseRef option) for every build, e.g. the image digest or the git sha, and restart it`,
    )
  }
}
