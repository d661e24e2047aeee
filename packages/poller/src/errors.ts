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
