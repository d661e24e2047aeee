import { type LockDocument, RelupError } from '@relup/core'
import type { ReleaseProblem } from '@relup/swap'

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

/** `lock.json` is there but cannot be parsed: it blocks every publisher until it is removed. */
export class LockUnreadableError extends RelupError {
  static readonly code = 'ERR_RELUP_LOCK_UNREADABLE'
  constructor(app: string, problem: string) {
    super(
      LockUnreadableError.code,
      `the lock is unreadable: run \`relup unlock --app ${app}\` (if no publish is running) and try again. ${problem}`,
    )
  }
}

/** The storage cannot do what publishing needs (create-only, compare-and-swap). */
export class StorageUnfitError extends RelupError {
  static readonly code = 'ERR_RELUP_STORAGE_UNFIT'
  constructor(message: string) {
    super(StorageUnfitError.code, message)
  }
}

/**
 * A write this publisher made (the lock, the pointer) is not what storage holds now although the
 * store accepted it: someone forced it, or the store ignores conditional writes.
 */
export class WriteLostError extends RelupError {
  static readonly code = 'ERR_RELUP_WRITE_LOST'
  constructor(message: string) {
    super(WriteLostError.code, message)
  }
}

/** Nothing to roll back to, or no such version. */
export class NothingToRollBackError extends RelupError {
  static readonly code = 'ERR_RELUP_NOTHING_TO_ROLL_BACK'
  constructor(message: string) {
    super(NothingToRollBackError.code, message)
  }
}

/** A stored artifact does not match the sha256 or size its upgrade names. */
export class ArtifactCorruptError extends RelupError {
  static readonly code = 'ERR_RELUP_ARTIFACT_CORRUPT'
  constructor(message: string) {
    super(ArtifactCorruptError.code, message)
  }
}

/** The operation was cancelled through its `signal` (Ctrl-C, SIGTERM in the CLI). */
export class CancelledError extends RelupError {
  static readonly code = 'ERR_RELUP_CANCELLED'
  /** What the signal was aborted with (the CLI passes the signal's name). */
  readonly reason: unknown
  constructor(message: string, reason: unknown) {
    super(CancelledError.code, message)
    this.reason = reason
  }
}

/** A storage URL names an adapter package that is not installed (they are optional peer dependencies). */
export class StorageAdapterMissingError extends RelupError {
  static readonly code = 'ERR_RELUP_STORAGE_ADAPTER_MISSING'
  readonly packageName: string
  constructor(scheme: string, packageName: string, cause: unknown) {
    super(
      StorageAdapterMissingError.code,
      `${scheme} storage needs ${packageName}: npm install ${packageName} (it is an optional peer dependency, installed only by those who use it)`,
      { cause },
    )
    this.packageName = packageName
  }
}

/**
 * The hot code would fail on the machines: `checkRelease` of `@relup/swap` (the machines' loader
 * rules) found problems, each with its file and line. Nothing was uploaded or written to storage.
 */
export class ReleaseCheckError extends RelupError {
  static readonly code = 'ERR_RELUP_RELEASE_CHECK'
  /** The hot code directory checked. */
  readonly dir: string
  /** What is wrong, in file order: `{ kind, file, line?, column?, message }`. */
  readonly problems: ReleaseProblem[]
  constructor(dir: string, problems: ReleaseProblem[], command: 'publish' | 'pack' = 'publish') {
    const count = problems.length === 1 ? 'a problem' : `${problems.length} problems`
    const done = command === 'publish' ? 'published' : 'packed'
    super(
      ReleaseCheckError.code,
      `${dir} has ${count} the machines would refuse, so nothing was ${done}:\n` +
        problems.map((problem) => `  ${describeProblem(problem)}`).join('\n') +
        `\nFix ${problems.length === 1 ? 'it' : 'them'} and ${command} again (--skip-checks, or skipChecks: true, ` +
        `${command === 'publish' ? 'publishes' : 'packs'} without these checks).`,
    )
    this.dir = dir
    this.problems = problems
  }
}

/** A problem as `file:line:column: message` (as much of the location as is known). */
export function describeProblem(problem: ReleaseProblem): string {
  const at = [problem.file, problem.line, problem.line === undefined ? undefined : problem.column]
    .filter((part) => part !== undefined && part !== '')
    .join(':')
  return at === '' ? problem.message : `${at}: ${problem.message}`
}

/** The artifact a publish uploaded (or reuses) was removed before the pointer moved: nothing was rolled out. */
export class ArtifactGoneError extends RelupError {
  static readonly code = 'ERR_RELUP_ARTIFACT_GONE'
  readonly key: string
  constructor(app: string, key: string) {
    super(
      ArtifactGoneError.code,
      `${key} was removed from storage while this publish waited for the deploy lock (a \`relup gc --app ${app}\` ` +
        'ran meanwhile?), so the pointer was not moved and no machine is affected. Publish again: the artifact is uploaded anew.',
    )
    this.key = key
  }
}
