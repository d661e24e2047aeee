import { RelupError } from '@relup/core'

/** A command line that cannot run: a missing argument, an unknown flag, a bad value. */
export class UsageError extends RelupError {
  static readonly code = 'ERR_RELUP_USAGE'
  constructor(message: string) {
    super(UsageError.code, message)
  }
}
