import { ConfiguredRetryStrategy } from '@smithy/util-retry'

export interface S3RetryOptions {
  /** Attempts per request, the first included (default 4; 1 turns retries off). */
  maxAttempts?: number | undefined
  /** Base of the exponential backoff in ms (default 100): retry n waits up to base × 2^(n-1), jittered. */
  baseDelayMs?: number | undefined
}

export const DEFAULT_MAX_ATTEMPTS = 4
export const DEFAULT_BASE_DELAY_MS = 100
const MAX_DELAY_MS = 20_000

type RetryErrorInfo = Parameters<ConfiguredRetryStrategy['refreshRetryTokenForRetry']>[1]

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode

/**
 * The SDK's standard strategy (transient 5xx, throttling such as 503 SlowDown, timeouts and
 * connection resets are retried, within a retry quota), with full-jitter exponential backoff and
 * two S3 conditional-write rules: a 412 is final, never retried; a 409 ConditionalRequestConflict
 * (a concurrent conditional write) is retried, since the retry re-evaluates the condition.
 */
export class RelupRetryStrategy extends ConfiguredRetryStrategy {
  constructor(options: S3RetryOptions = {}) {
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
    const baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS
    super(maxAttempts, (attempt) =>
      Math.floor(Math.random() * Math.min(MAX_DELAY_MS, baseDelayMs * 2 ** (attempt - 1))),
    )
  }

  override refreshRetryTokenForRetry(
    token: Parameters<ConfiguredRetryStrategy['refreshRetryTokenForRetry']>[0],
    errorInfo: RetryErrorInfo,
  ) {
    return super.refreshRetryTokenForRetry(token, { ...errorInfo, errorType: retryErrorType(errorInfo) })
  }
}

function retryErrorType(errorInfo: RetryErrorInfo): RetryErrorInfo['errorType'] {
  const status = statusOf(errorInfo.error)
  if (status === 412) return 'CLIENT_ERROR'
  if (status === 409 && errorInfo.error?.name === 'ConditionalRequestConflict') return 'TRANSIENT'
  return errorInfo.errorType
}
