import { type LockDocument, RelupError } from '@relup/core'

/** Another publisher holds the deploy lock. */
export class LockHeldError extends RelupError {
  static readonly code = 'ERR_RELUP_LOCK_HELD'
  readonly lock: LockDocument
  constructor(app: string, lock: LockDocument) {
    super(
      LockHeldError.code,
      `the deploy lock of ${app} is held by ${lock.owner} since ${lock.acquiredAt} (${lock.purpose || 'no purpose given'}), ` +
        `until ${lock.expiresAt}. Wait for it to finish, or if it is stale run \`relup unlock --app ${app}\`, ` +
        'or take it over with --force.',
    )
    this.lock = lock
  }
}

/** The storage cannot do what publishing needs (create-only, compare-and-swap). */
export class StorageUnfitError extends RelupError {
  static readonly code = 'ERR_RELUP_STORAGE_UNFIT'
  constructor(message: string) {
    super(StorageUnfitError.code, message)
  }
}

/** Nothing to roll back to, or no such version. */
export class NothingToRollBackError extends RelupError {
  static readonly code = 'ERR_RELUP_NOTHING_TO_ROLL_BACK'
  constructor(message: string) {
    super(NothingToRollBackError.code, message)
  }
}
