import { ConfigError, StorageTransportError } from '@relup/core'

export type S3Operation = 'get' | 'getStream' | 'put' | 'list' | 'delete'

/** What an SDK failure looks like, read without keeping the SDK's error (it carries the raw response). */
export interface S3Failure {
  /** HTTP status, when the store answered. */
  status: number | undefined
  /** The S3 error code (`NoSuchKey`, `SlowDown`…), or the SDK/Node error name or code. */
  code: string
  message: string
  requestId: string | undefined
  attempts: number | undefined
}

interface SdkErrorShape {
  name?: unknown
  code?: unknown
  Code?: unknown
  message?: unknown
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number }
}

export function readFailure(error: unknown): S3Failure {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape
  const status = shape.$metadata?.httpStatusCode
  const code =
    [shape.Code, shape.code, shape.name].find(
      (value): value is string => typeof value === 'string' && value !== '',
    ) ?? 'Error'
  return {
    status,
    code,
    message: typeof shape.message === 'string' ? shape.message : String(error),
    requestId: shape.$metadata?.requestId,
    attempts: shape.$metadata?.attempts,
  }
}

/** A 404 that is about the key (not the bucket): the expected `not-found`. */
export const isMissingKey = (failure: S3Failure) => failure.status === 404 && failure.code !== 'NoSuchBucket'

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
])
const NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
])
const DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
])
const WRONG_REGION = new Set([
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
])

const ACTIONS: Record<S3Operation, string> = {
  get: 's3:GetObject',
  getStream: 's3:GetObject',
  put: 's3:PutObject',
  list: 's3:ListBucket',
  delete: 's3:DeleteObject',
}

export interface FailureContext {
  operation: S3Operation
  /** The relup key, as the caller gave it. */
  key: string | undefined
  /** Where the object lives: `s3://bucket/prefix/key`. */
  location: string
  bucket: string
  /** `AWS S3` or the custom endpoint's origin. */
  store: string
  timeoutMs: number
  /** Credentials this adapter knows literally: removed from anything it reports. */
  secrets: readonly string[]
}

/**
 * Turn an SDK failure into the error relup reports: a `ConfigError` for missing credentials or
 * region, otherwise a `StorageTransportError` whose message says what to check. The SDK's error
 * is not attached: it carries the response and fields the store echoed (an S3 403 names the access
 * key). The cause is a plain summary instead, and every string passes through `redact`.
 */
export function toStorageError(error: unknown, context: FailureContext): ConfigError | StorageTransportError {
  const failure = readFailure(error)
  const { operation, location, store } = context
  const clean = (text: string) => redact(text, context.secrets)
  const what = `${operation} ${location}`
  const answer = `${failure.status === undefined ? '' : `${failure.status} `}${failure.code}: ${clean(failure.message)}`

  if (failure.code === 'CredentialsProviderError' || /could not load credentials/i.test(failure.message)) {
    return new ConfigError(
      'credentials',
      `no AWS credentials for ${what}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass s3Storage({ credentials }), or run with an IAM role or profile.`,
    )
  }
  if (/region is missing/i.test(failure.message)) {
    return new ConfigError(
      'region',
      `no AWS region for ${what}: set AWS_REGION or pass s3Storage({ region }).`,
    )
  }

  let retryable: boolean
  let hint: string
  if (failure.status === 404 && failure.code === 'NoSuchBucket') {
    retryable = false
    hint = `bucket "${context.bucket}" does not exist at ${store}: create it (\`aws s3 mb s3://${context.bucket}\`, \`fly storage create\`) or fix BUCKET_NAME.`
  } else if (failure.status === 403 || DENIED.has(failure.code)) {
    retryable = false
    hint = `check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the IAM role) and that the bucket policy allows ${ACTIONS[operation]} on ${location.replace(/\/[^/]*$/, '/*')}.`
  } else if (failure.status === 301 || WRONG_REGION.has(failure.code)) {
    retryable = false
    hint = `the bucket is in another region: set AWS_REGION (or s3Storage({ region })) to the bucket's region.`
  } else if (failure.status === 501) {
    retryable = false
    hint = `${store} does not implement this request; conditional writes need If-None-Match/If-Match support (see the README's table of stores).`
  } else if (failure.status === 429 || THROTTLING.has(failure.code)) {
    retryable = true
    hint = `${store} is throttling requests${attemptsText(failure)}; back off and try again later.`
  } else if ((failure.status !== undefined && failure.status >= 500) || failure.code === 'RequestTimeout') {
    retryable = true
    hint = `${store} failed${attemptsText(failure)}; it is retryable later. If it persists, check the store's status.`
  } else if (failure.status === 409) {
    retryable = true
    hint = 'a concurrent operation conflicted with this one; try again.'
  } else if (failure.status === undefined && (NETWORK.has(failure.code) || failure.code === 'TimeoutError')) {
    retryable = true
    hint = `could not reach ${store}${attemptsText(failure)}: check AWS_ENDPOINT_URL_S3 / the endpoint and the network.`
  } else if (failure.status === undefined) {
    retryable = false
    hint = `the request to ${store} failed before an answer.`
  } else {
    retryable = false
    hint = `${store} refused the request; check the key and the options.`
  }

  return new StorageTransportError(`${what} failed (${answer}); ${hint}`, {
    operation,
    key: context.key,
    retryable,
    status: failure.status,
    cause: {
      code: clean(failure.code),
      status: failure.status,
      requestId: failure.requestId,
      attempts: failure.attempts,
    },
  })
}

/** The operation did not complete within `timeoutMs`. */
export function timeoutError(context: FailureContext): StorageTransportError {
  return new StorageTransportError(
    `${context.operation} ${context.location} got no answer from ${context.store} within ${context.timeoutMs} ms; ` +
      'the store is slow or unreachable (raise timeoutMs if it is just slow).',
    { operation: context.operation, key: context.key, retryable: true },
  )
}

const attemptsText = (failure: S3Failure) =>
  failure.attempts !== undefined && failure.attempts > 1 ? ` after ${failure.attempts} attempts` : ''

// Access key ids as AWS (AKIA…, ASIA…) and Tigris (tid_…, tsec_…) issue them, and SigV4 credential scopes.
const KEY_PATTERNS = [
  /\b(?:AKIA|ASIA|AIDA|AROA|AGPA)[A-Z0-9]{12,}\b/g,
  /\bt(?:id|sec)_[A-Za-z0-9_-]+/g,
  /Credential=[^\s,]+/g,
]

/** Remove credentials from text that may have come from the store. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]')
  for (const pattern of KEY_PATTERNS) out = out.replace(pattern, '[redacted]')
  return out
}
