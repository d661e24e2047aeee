/**
 * Every error relup throws on purpose is a `RelupError` with a stable `code`, so callers can
 * branch on `error.code` instead of parsing messages. Messages say what to do next.
 */
export class RelupError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

export function isRelupError(error: unknown, code?: string): error is RelupError {
  return error instanceof RelupError && (code === undefined || error.code === code)
}

/** An adapter was asked for a precondition it cannot honour. Ignoring it silently would be worse. */
export class UnsupportedCapabilityError extends RelupError {
  static readonly code = 'ERR_RELUP_UNSUPPORTED_CAPABILITY'
  readonly capability: string
  readonly adapter: string

  constructor(adapter: string, capability: string, hint?: string) {
    super(
      UnsupportedCapabilityError.code,
      `storage adapter "${adapter}" does not support ${capability}; ` +
        (hint ?? 'use a backend that does (run `relup doctor` to probe it), or avoid the option.'),
    )
    this.adapter = adapter
    this.capability = capability
  }
}

/** The backend could not be reached or answered with an unexpected failure. */
export class StorageTransportError extends RelupError {
  static readonly code = 'ERR_RELUP_STORAGE_TRANSPORT'
  readonly retryable: boolean
  readonly operation: string
  readonly key: string | undefined
  readonly status: number | undefined

  constructor(
    message: string,
    details: {
      operation: string
      key?: string | undefined
      retryable: boolean
      status?: number | undefined
      cause?: unknown
    },
  ) {
    super(StorageTransportError.code, message, { cause: details.cause })
    this.operation = details.operation
    this.key = details.key
    this.retryable = details.retryable
    this.status = details.status
  }
}

/** A document read from storage (or disk) does not match its schema. */
export class DocumentError extends RelupError {
  static readonly code = 'ERR_RELUP_DOCUMENT'
  readonly document: string
  readonly key: string | undefined
  readonly field: string

  constructor(details: { document: string; key?: string | undefined; field: string; problem: string }) {
    const where = details.key ? `${details.key} (${details.document})` : details.document
    const field = details.field === '' ? 'the document' : `field "${details.field}"`
    super(
      DocumentError.code,
      `${where} is malformed: ${field} ${details.problem}. ${repairAdvice(details.document)}`,
    )
    this.document = details.document
    this.key = details.key
    this.field = details.field
  }
}

/** What to run when a document relup keeps in storage is malformed. */
function repairAdvice(document: string): string {
  switch (document) {
    case 'current pointer':
      return 'It was not used; rewrite it from the publish history with `relup repair --app <app>` (see `relup repair --help`).'
    case 'lock':
      return 'It was not used; if no publish is running, remove it with `relup unlock --app <app>`.'
    case 'local marker':
      return 'It was not used; the machine downloads its release again.'
    default:
      return 'It was not used; fix or rewrite the document.'
  }
}

/** A storage key that could escape its namespace or is not representable. */
export class InvalidKeyError extends RelupError {
  static readonly code = 'ERR_RELUP_INVALID_KEY'
  readonly key: string

  constructor(key: string, reason: string) {
    super(InvalidKeyError.code, `invalid storage key ${JSON.stringify(key)}: ${reason}`)
    this.key = key
  }
}

/** A missing or contradictory option or environment variable. */
export class ConfigError extends RelupError {
  static readonly code = 'ERR_RELUP_CONFIG'
  readonly option: string

  constructor(option: string, message: string) {
    super(ConfigError.code, message)
    this.option = option
  }
}

/**
 * A directory cannot be a release as it is: a link out of it, a special file, a name machines
 * would refuse. `pack` reports it as a `PackError`, the swap engine as a load or upgrade error.
 */
export class ReleaseTreeError extends RelupError {
  static readonly code = 'ERR_RELUP_RELEASE_TREE'
  /** The release directory. */
  readonly dir: string
  /** The offending path relative to `dir`, or '' for the directory itself. */
  readonly path: string
  /** What is wrong and what to do, without the directory (callers add their own context). */
  readonly problem: string

  constructor(dir: string, path: string, problem: string) {
    super(
      ReleaseTreeError.code,
      path === '' ? `${dir}: ${problem}` : `${dir}: ${JSON.stringify(path)} ${problem}`,
    )
    this.dir = dir
    this.path = path
    this.problem = problem
  }
}
