import { PassThrough, Readable } from 'node:stream'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import {
  type DeleteOptions,
  type DeleteResult,
  type GetOptions,
  type GetResult,
  type GetStreamResult,
  type ListOptions,
  type ListPage,
  type PutBody,
  type PutOptions,
  type PutResult,
  RelupError,
  type Storage,
  type StorageCapabilities,
  StorageTransportError,
} from '@relup/core'
import { assertOptionsSupported, folderPrefix, pageLimit, validateKey } from '@relup/core/adapter'
import { createFastGet } from './fastGet.js'
import { createPollSigner } from './pollSigner.js'
import { preparePutBody } from './putBody.js'
import { RelupRetryStrategy } from './retryStrategy.js'
import { resolveS3Config, type S3Config, type S3StorageOptions } from './s3Config.js'
import {
  type FailureContext,
  isMissingKey,
  readFailure,
  redact,
  type S3Operation,
  timeoutError,
  toStorageError,
} from './s3Errors.js'

export interface S3Storage extends Storage {
  readonly bucket: string
  /** The key prefix, without a trailing `/` (`''` for none). */
  readonly prefix: string
  /** The SDK client it talks through. */
  readonly client: S3Client
  /** Destroys the client it created (its sockets close); a client you passed in stays open. */
  close(): Promise<void>
}

const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

/**
 * relup storage on AWS S3 or an S3-compatible store (Tigris, R2, MinIO). With no options it is
 * configured by the environment Fly.io sets for Tigris: `BUCKET_NAME`, `AWS_ENDPOINT_URL_S3`,
 * `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`.
 */
export function s3Storage(options: S3StorageOptions = {}): S3Storage {
  const config = resolveS3Config(options)
  const ownsClient = options.client === undefined
  const client = options.client ?? createClient(config)
  const { bucket, prefix } = config
  const keyPrefix = prefix === '' ? '' : `${prefix}/`
  const store = config.endpoint === undefined ? 'AWS S3' : new URL(config.endpoint).origin
  const capabilities: StorageCapabilities = Object.freeze({
    conditionalGet: true,
    createOnly: true,
    compareAndSwap: true,
    conditionalDelete: config.conditionalDelete,
  })
  let closed = false
  // The SDK is bypassed only for document reads (the poll path), and only on a client we built.
  const fast =
    ownsClient && config.fastGet
      ? createFastGet({
          client,
          sign: createPollSigner(client),
          bucket,
          endpoint: config.endpoint,
          forcePathStyle: config.forcePathStyle,
          consistentReads: config.consistentReads,
          maxBytes: config.maxBufferBytes,
        })
      : undefined

  const objectKey = (key: string) => keyPrefix + key
  const context = (operation: S3Operation, key: string | undefined, where = key ?? ''): FailureContext => ({
    operation,
    key,
    location: `s3://${bucket}/${keyPrefix}${where}`,
    bucket,
    store,
    timeoutMs: config.timeoutMs,
    secrets: config.secrets,
  })

  /**
   * Run one operation: bounded by `timeoutMs` when `deadline` is set, cancelled by the caller's
   * signal, and with every unexpected failure turned into a relup error.
   */
  async function operate<T>(
    ctx: FailureContext,
    settings: {
      signal?: AbortSignal | undefined
      deadline: boolean
      abort?: AbortController
      ownError?: () => unknown
    },
    run: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (closed) {
      throw new StorageTransportError(
        `${ctx.operation} ${ctx.location}: this storage was closed; create a new one.`,
        {
          operation: ctx.operation,
          key: ctx.key,
          retryable: false,
        },
      )
    }
    settings.signal?.throwIfAborted()
    const deadline = settings.deadline ? new AbortController() : undefined
    const timer = deadline && setTimeout(() => deadline.abort(), config.timeoutMs)
    const signals = [settings.signal, deadline?.signal, settings.abort?.signal].filter(
      (s): s is AbortSignal => !!s,
    )
    try {
      return await run(signals.length === 1 ? signals[0]! : AbortSignal.any(signals))
    } catch (error) {
      if (settings.signal?.aborted) throw settings.signal.reason
      const own = settings.ownError?.()
      if (own !== undefined) throw own
      if (deadline?.signal.aborted) throw timeoutError(ctx)
      if (error instanceof RelupError) throw error
      throw toStorageError(error, ctx)
    } finally {
      clearTimeout(timer)
    }
  }

  const requireEtag = (etag: string | undefined, ctx: FailureContext): string => {
    if (etag) return etag
    throw new StorageTransportError(
      `${ctx.operation} ${ctx.location}: ${store} answered without an ETag; relup needs ETags for conditional requests, use an S3-compatible store that sends them.`,
      { operation: ctx.operation, key: ctx.key, retryable: false },
    )
  }

  /** GetObject, with 304 and a missing key as values. */
  async function getObject(
    key: string,
    getOptions: GetOptions | undefined,
    abortSignal: AbortSignal,
  ): Promise<GetObjectCommandOutput | { status: 'not-modified' } | { status: 'not-found' }> {
    try {
      return await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: objectKey(key), IfNoneMatch: getOptions?.ifNoneMatch }),
        { abortSignal },
      )
    } catch (error) {
      const failure = readFailure(error)
      // The SDK reports a 304 as an error (name "Unknown"): the status is what counts.
      if (failure.status === 304) return { status: 'not-modified' }
      if (isMissingKey(failure)) return { status: 'not-found' }
      throw error
    }
  }

  /** The response body, with failures after the response started reported as relup errors. */
  function guardBody(source: Readable, ctx: FailureContext): Readable {
    const out = new PassThrough()
    source.on('error', (error) => {
      const failure = readFailure(error)
      out.destroy(
        new StorageTransportError(
          `${ctx.operation} ${ctx.location} was interrupted after the download started (${failure.code}: ${redact(failure.message, ctx.secrets)}); ` +
            `a stall longer than timeoutMs (${ctx.timeoutMs} ms) ends it too. Retry the download.`,
          { operation: ctx.operation, key: ctx.key, retryable: true, cause: { code: failure.code } },
        ),
      )
    })
    // A consumer that gives up must release the connection.
    out.on('close', () => {
      if (!source.destroyed) source.destroy()
    })
    source.pipe(out)
    return out
  }

  const storage: S3Storage = {
    name: `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`,
    capabilities,
    bucket,
    prefix,
    client,

    async get(key: string, getOptions?: GetOptions): Promise<GetResult> {
      validateKey(key)
      assertOptionsSupported(storage, getOptions, 'get')
      const ctx = context('get', key)
      if (fast && !closed) {
        // Anything unexpected (credentials that do not resolve…) is left to the SDK path below,
        // which reports it like every other operation.
        const quick = await fast
          .get(objectKey(key), getOptions?.ifNoneMatch, {
            timeoutMs: config.timeoutMs,
            signal: getOptions?.signal,
          })
          .catch(() => {
            if (getOptions?.signal?.aborted) throw getOptions.signal.reason
            return null
          })
        if (quick?.status === 'timeout') throw timeoutError(ctx)
        if (quick) return quick
      }
      return operate(ctx, { signal: getOptions?.signal, deadline: true }, async (abortSignal) => {
        const out = await getObject(key, getOptions, abortSignal)
        if ('status' in out) return out
        const bytes = (await out.Body?.transformToByteArray()) ?? new Uint8Array(0)
        // A plain Uint8Array, not the Buffer subclass the SDK may hand out.
        const body = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        return { status: 'ok', etag: requireEtag(out.ETag, ctx), body }
      })
    },

    async getStream(key: string, getOptions?: GetOptions): Promise<GetStreamResult> {
      validateKey(key)
      assertOptionsSupported(storage, getOptions, 'get')
      const ctx = context('getStream', key)
      // The deadline covers the start of the response; the body is bounded by the idle timeout.
      return operate(ctx, { signal: getOptions?.signal, deadline: true }, async (abortSignal) => {
        const out = await getObject(key, getOptions, abortSignal)
        if ('status' in out) return out
        if (!(out.Body instanceof Readable)) {
          throw new StorageTransportError(`getStream ${ctx.location}: the SDK returned no Node.js stream`, {
            operation: 'getStream',
            key,
            retryable: false,
          })
        }
        const etag = requireEtag(out.ETag, ctx)
        return { status: 'ok', etag, size: out.ContentLength, body: guardBody(out.Body, ctx) }
      })
    },

    async put(key: string, body: PutBody, putOptions?: PutOptions): Promise<PutResult> {
      validateKey(key)
      assertOptionsSupported(storage, putOptions, 'put')
      const ctx = context('put', key)
      const prepared = await preparePutBody(body, putOptions?.contentLength, config.maxBufferBytes)
      // A failing source must end the request: the SDK pipes the stream and would wait forever.
      const abort = new AbortController()
      let sourceError: unknown
      if (prepared.kind === 'stream') {
        prepared.stream.on('error', (error) => {
          sourceError = error
          abort.abort(error)
        })
      }
      const conditional = putOptions?.ifNoneMatch !== undefined || putOptions?.ifMatch !== undefined
      try {
        return await operate(
          ctx,
          { signal: putOptions?.signal, deadline: false, abort, ownError: () => sourceError },
          async (abortSignal): Promise<PutResult> => {
            try {
              const out = await client.send(
                new PutObjectCommand({
                  Bucket: bucket,
                  Key: objectKey(key),
                  Body: prepared.kind === 'bytes' ? prepared.bytes : prepared.stream,
                  ContentLength: prepared.kind === 'bytes' ? prepared.bytes.byteLength : prepared.length,
                  ContentType: putOptions?.contentType,
                  IfNoneMatch: putOptions?.ifNoneMatch,
                  IfMatch: putOptions?.ifMatch,
                }),
                { abortSignal },
              )
              return { status: 'ok', etag: requireEtag(out.ETag, ctx) }
            } catch (error) {
              if (
                conditional &&
                sourceError === undefined &&
                isPreconditionFailure(readFailure(error), putOptions?.ifMatch !== undefined)
              ) {
                return { status: 'precondition-failed' }
              }
              throw error
            }
          },
        )
      } finally {
        if (prepared.kind === 'stream' && !prepared.stream.destroyed) prepared.stream.destroy()
      }
    },

    async list(listPrefix: string, listOptions: ListOptions = {}): Promise<ListPage> {
      const folder = folderPrefix(listPrefix)
      if (folder !== '') validateKey(folder.slice(0, -1))
      const limit = pageLimit(listOptions.limit)
      const ctx = context('list', undefined, folder)
      return operate(ctx, { deadline: true }, async (abortSignal) => {
        const out = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: keyPrefix + folder,
            MaxKeys: limit,
            ContinuationToken: listOptions.cursor,
          }),
          { abortSignal },
        )
        const items = (out.Contents ?? []).flatMap((object) =>
          object.Key?.startsWith(keyPrefix + folder)
            ? [{ key: object.Key.slice(keyPrefix.length), size: object.Size ?? 0, etag: object.ETag }]
            : [],
        )
        if (!out.IsTruncated) return { items }
        if (!out.NextContinuationToken) {
          throw new StorageTransportError(
            `list ${ctx.location}: ${store} said there is more but gave no continuation token.`,
            {
              operation: 'list',
              retryable: false,
            },
          )
        }
        return { items, cursor: out.NextContinuationToken }
      })
    },

    async delete(key: string, deleteOptions?: DeleteOptions): Promise<DeleteResult> {
      validateKey(key)
      assertOptionsSupported(storage, deleteOptions, 'delete')
      const ctx = context('delete', key)
      const ifMatch = deleteOptions?.ifMatch
      return operate(ctx, { deadline: true }, async (abortSignal): Promise<DeleteResult> => {
        try {
          await client.send(
            new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key), IfMatch: ifMatch }),
            { abortSignal },
          )
          return { status: 'ok' }
        } catch (error) {
          const failure = readFailure(error)
          // Deleting a missing key is ok, also conditionally (S3 answers 404 NoSuchKey then).
          if (isMissingKey(failure)) return { status: 'ok' }
          if (ifMatch !== undefined && isPreconditionFailure(failure, false))
            return { status: 'precondition-failed' }
          throw error
        }
      })
    },

    async close() {
      if (closed) return
      closed = true
      fast?.close()
      if (ownsClient) client.destroy()
    },
  }
  return storage
}

/**
 * 412, or a 409 ConditionalRequestConflict the retries could not get past (a concurrent
 * conditional write won), or, for `If-Match`, a 404 NoSuchKey (the key it expected is gone).
 */
function isPreconditionFailure(failure: ReturnType<typeof readFailure>, ifMatch: boolean): boolean {
  if (failure.status === 412) return true
  if (failure.status === 409 && failure.code === 'ConditionalRequestConflict') return true
  return ifMatch && isMissingKey(failure)
}

function createClient(config: S3Config): S3Client {
  const checksums = config.checksums === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED'
  const client = new S3Client({
    // Unset fields are left out: the SDK then resolves them from the environment as usual.
    ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
    ...(config.region !== undefined ? { region: config.region } : {}),
    ...(config.credentials !== undefined ? { credentials: config.credentials } : {}),
    forcePathStyle: config.forcePathStyle,
    maxAttempts: config.retry.maxAttempts,
    retryStrategy: new RelupRetryStrategy(config.retry),
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    // Connecting and every pause in a transfer (either way) are bounded by timeoutMs.
    requestHandler: {
      connectionTimeout: config.timeoutMs,
      socketTimeout: config.timeoutMs,
      logger: silentLogger,
    },
    logger: silentLogger,
  })
  if (config.consistentReads) {
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> } | undefined
        if (request?.headers) request.headers['x-tigris-consistent'] = 'true'
        return next(args)
      },
      // Before signing (finalizeRequest), so the header is signed with the rest.
      { step: 'build', name: 'relupConsistentReads', override: true },
    )
  }
  return client
}
