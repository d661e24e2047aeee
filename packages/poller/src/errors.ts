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
