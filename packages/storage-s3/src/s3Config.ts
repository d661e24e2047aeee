import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3'
import { ConfigError, InvalidKeyError } from '@relup/core'
import { validateKey } from '@relup/core/adapter'
import { DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_ATTEMPTS, type S3RetryOptions } from './retryStrategy.js'

/** `'when-required'`: no checksum unless the operation demands one (default); `'when-supported'`: the SDK's own default. */
export type S3Checksums = 'when-required' | 'when-supported'

export interface S3StorageOptions {
  /** The bucket; default `BUCKET_NAME` (what `fly storage create` sets). */
  bucket?: string | undefined
  /** Prepended to every key (`relup/chat` stores `current.json` as `relup/chat/current.json`) and stripped from listed keys. */
  prefix?: string | undefined
  /** A client you configured yourself: then only `bucket`, `prefix`, `conditionalDelete`, `timeoutMs` and `maxBufferBytes` apply, and `close()` leaves it open. */
  client?: S3Client | undefined
  /** An S3-compatible endpoint (Tigris, R2, MinIO); default `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`; none means AWS S3. */
  endpoint?: string | undefined
  /** Default `AWS_REGION`, then `AWS_DEFAULT_REGION`; with a custom endpoint and neither, `us-east-1`; on AWS, the SDK's profile chain. */
  region?: string | undefined
  /** Default `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`); without them, the SDK's default chain (IAM role, SSO, profile). */
  credentials?: S3ClientConfig['credentials']
  /** Path-style URLs (`endpoint/bucket/key`); default true for a custom endpoint, false on AWS S3 and Tigris. */
  forcePathStyle?: boolean | undefined
  retry?: S3RetryOptions | undefined
  /** Send `x-tigris-consistent: true` on every request: Tigris serves stale reads from other regions without it (default false). */
  consistentReads?: boolean | undefined
  /** Request and response checksums (default `'when-required'`, see the README for why). */
  checksums?: S3Checksums | undefined
  /** Declare (and use) `delete` with `ifMatch`; default true on AWS S3, false for a custom endpoint or client. */
  conditionalDelete?: boolean | undefined
  /** How long to wait for the store, in ms (default 10 s); see the README for what it bounds. */
  timeoutMs?: number | undefined
  /** The largest streamed `put` body without `contentLength` that is buffered to send (default 64 MiB). */
  maxBufferBytes?: number | undefined
  /**
   * Read documents (`get`: the poll path) with a hand-signed request on a keep-alive socket instead
   * of the SDK: the same request for a fraction of the CPU. Anything but a 200 or 304 is repeated
   * through the SDK. Default true; never used with a `client` you pass in.
   */
  fastGet?: boolean | undefined
  /** Where the variables are read from (default `process.env`). */
  env?: Record<string, string | undefined> | undefined
}

export interface S3Config {
  bucket: string
  /** Normalized: no leading or trailing `/`; `''` for none. */
  prefix: string
  endpoint: string | undefined
  region: string | undefined
  credentials: S3ClientConfig['credentials']
  forcePathStyle: boolean
  retry: { [K in keyof S3RetryOptions]-?: NonNullable<S3RetryOptions[K]> }
  consistentReads: boolean
  checksums: S3Checksums
  conditionalDelete: boolean
  timeoutMs: number
  maxBufferBytes: number
  fastGet: boolean
  /** Literal credentials this adapter was given, to keep them out of error messages. */
  secrets: string[]
}

export const DEFAULT_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024

const CLIENT_LEVEL_OPTIONS = [
  'endpoint',
  'region',
  'credentials',
  'forcePathStyle',
  'retry',
  'consistentReads',
  'checksums',
] as const

/** Resolve the options and the environment into a complete configuration, or a `ConfigError` that names what is missing. */
export function resolveS3Config(options: S3StorageOptions): S3Config {
  const env = options.env ?? process.env
  const fromEnv = (name: string) => {
    const value = env[name]?.trim()
    return value === '' ? undefined : value
  }

  const bucket = options.bucket ?? fromEnv('BUCKET_NAME')
  if (bucket === undefined || bucket === '') {
    throw new ConfigError(
      'bucket',
      'no S3 bucket: pass s3Storage({ bucket }) or set BUCKET_NAME (`fly storage create` sets it for Tigris).',
    )
  }
  if (bucket.includes('/'))
    throw new ConfigError(
      'bucket',
      `S3 bucket ${JSON.stringify(bucket)} contains "/": give the bucket name alone and the rest as prefix.`,
    )

  const prefix = normalizePrefix(options.prefix)
  const timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  const maxBufferBytes = positive('maxBufferBytes', options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES)

  if (options.client) {
    const given = CLIENT_LEVEL_OPTIONS.filter((name) => options[name] !== undefined)
    if (given.length > 0) {
      throw new ConfigError(
        given[0]!,
        `s3Storage got a client together with ${given.join(', ')}: configure those on the client you pass, or let s3Storage create the client.`,
      )
    }
    return {
      bucket,
      prefix,
      endpoint: undefined,
      region: undefined,
      credentials: undefined,
      forcePathStyle: false,
      retry: { maxAttempts: DEFAULT_MAX_ATTEMPTS, baseDelayMs: DEFAULT_BASE_DELAY_MS },
      consistentReads: false,
      checksums: 'when-required',
      // We cannot tell which store a foreign client talks to: only a declared capability is honest.
      conditionalDelete: options.conditionalDelete ?? false,
      timeoutMs,
      maxBufferBytes,
      fastGet: false,
      secrets: [],
    }
  }

  const endpointSource =
    options.endpoint !== undefined
      ? 'endpoint'
      : fromEnv('AWS_ENDPOINT_URL_S3')
        ? 'AWS_ENDPOINT_URL_S3'
        : 'AWS_ENDPOINT_URL'
  const endpoint = options.endpoint ?? fromEnv('AWS_ENDPOINT_URL_S3') ?? fromEnv('AWS_ENDPOINT_URL')
  let onAws = true
  let onTigris = false
  if (endpoint !== undefined) {
    let url: URL
    try {
      url = new URL(endpoint)
    } catch {
      throw new ConfigError(
        endpointSource,
        `${endpointSource} is not a URL (${JSON.stringify(endpoint)}): use e.g. https://fly.storage.tigris.dev.`,
      )
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(endpointSource, `${endpointSource} must be an http(s) URL, got ${url.protocol}.`)
    }
    if (url.username || url.password) {
      throw new ConfigError(
        endpointSource,
        `${endpointSource} must not carry credentials: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`,
      )
    }
    onAws = /(^|\.)amazonaws\.com(\.cn)?$/.test(url.hostname)
    onTigris = /(^|\.)(tigris\.dev|storage\.dev)$/.test(url.hostname)
  }

  const region =
    options.region ??
    fromEnv('AWS_REGION') ??
    fromEnv('AWS_DEFAULT_REGION') ??
    (onAws ? undefined : 'us-east-1')

  let credentials = options.credentials
  const secrets: string[] = []
  if (credentials === undefined) {
    const accessKeyId = fromEnv('AWS_ACCESS_KEY_ID')
    const secretAccessKey = fromEnv('AWS_SECRET_ACCESS_KEY')
    if (accessKeyId !== undefined && secretAccessKey === undefined) {
      throw new ConfigError(
        'AWS_SECRET_ACCESS_KEY',
        'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither to use the IAM role.',
      )
    }
    if (secretAccessKey !== undefined && accessKeyId === undefined) {
      throw new ConfigError(
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither to use the IAM role.',
      )
    }
    if (accessKeyId !== undefined && secretAccessKey !== undefined) {
      const sessionToken = fromEnv('AWS_SESSION_TOKEN')
      credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
    }
  }
  if (credentials !== undefined && typeof credentials === 'object') {
    for (const value of [credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken]) {
      if (typeof value === 'string' && value.length > 0) secrets.push(value)
    }
  }

  const retry = {
    maxAttempts: options.retry?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    baseDelayMs: options.retry?.baseDelayMs ?? DEFAULT_BASE_DELAY_MS,
  }
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1) {
    throw new ConfigError(
      'retry.maxAttempts',
      `retry.maxAttempts must be an integer >= 1, got ${retry.maxAttempts}.`,
    )
  }
  if (!Number.isFinite(retry.baseDelayMs) || retry.baseDelayMs < 0) {
    throw new ConfigError(
      'retry.baseDelayMs',
      `retry.baseDelayMs must be a number >= 0, got ${retry.baseDelayMs}.`,
    )
  }

  const checksums = options.checksums ?? 'when-required'
  if (checksums !== 'when-required' && checksums !== 'when-supported') {
    throw new ConfigError(
      'checksums',
      `checksums must be 'when-required' or 'when-supported', got ${JSON.stringify(checksums)}.`,
    )
  }

  return {
    bucket,
    prefix,
    endpoint,
    region,
    credentials,
    // Path-style for MinIO, R2, s3rver and the like; AWS and Tigris (as Fly.io documents it) use virtual-hosted.
    forcePathStyle: options.forcePathStyle ?? !(onAws || onTigris),
    retry,
    consistentReads: options.consistentReads ?? false,
    checksums,
    conditionalDelete: options.conditionalDelete ?? onAws,
    timeoutMs,
    maxBufferBytes,
    fastGet: options.fastGet ?? true,
    secrets,
  }
}

function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '')
  if (trimmed === '') return ''
  try {
    validateKey(trimmed)
  } catch (error) {
    if (error instanceof InvalidKeyError)
      throw new ConfigError('prefix', `prefix ${JSON.stringify(prefix)} is not usable: ${error.message}`)
    throw error
  }
  return trimmed
}

function positive(option: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new ConfigError(option, `${option} must be a positive number, got ${value}.`)
  return value
}
