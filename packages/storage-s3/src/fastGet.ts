/**
 * The poll path, without the SDK. A machine reads its pointer every second; through the SDK a
 * conditional GetObject that ends in 304 costs over a millisecond of CPU (a middleware stack, and
 * an exception built for the 304). This sends the same request, signed with SigV4 as the SDK
 * signs it (`pollSigner.ts`), on a keep-alive socket, for a fraction of that.
 *
 * It handles only the answers a poll expects (200 and 304) and steps aside for anything else
 * (404, 5xx, a reset connection…): the caller then repeats the request through the SDK, which
 * retries and maps errors as everywhere else.
 */
import http from 'node:http'
import https from 'node:https'
import type { S3Client } from '@aws-sdk/client-s3'
import type { SignPoll } from './pollSigner.js'

export type FastGetResult =
  | { status: 'ok'; etag: string; body: Uint8Array }
  | { status: 'not-modified' }
  /** No answer within the timeout: final, like the SDK path's deadline. */
  | { status: 'timeout' }

/** RFC 3986 encoding of each path segment, as SigV4 and S3 expect (`/` kept, never double-encoded). */
export function encodeKeyPath(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/')
}

export interface FastGetOptions {
  client: S3Client
  /** Signs each request: `createPollSigner(client)` (the bench also passes the SDK's signer). */
  sign: SignPoll
  bucket: string
  endpoint: string | undefined
  forcePathStyle: boolean
  consistentReads: boolean
  maxBytes: number
}

export function createFastGet(options: FastGetOptions) {
  const { client, bucket, sign } = options
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 })

  async function target(objectKey: string): Promise<URL> {
    const path = encodeKeyPath(objectKey)
    if (options.endpoint !== undefined) {
      const base = new URL(options.endpoint)
      const basePath = base.pathname.replace(/\/+$/, '')
      if (options.forcePathStyle)
        return new URL(`${base.protocol}//${base.host}${basePath}/${bucket}/${path}`)
      return new URL(`${base.protocol}//${bucket}.${base.host}${basePath}/${path}`)
    }
    const region = await client.config.region()
    // Buckets with dots cannot be virtual-hosted over HTTPS.
    if (bucket.includes('.') || options.forcePathStyle)
      return new URL(`https://s3.${region}.amazonaws.com/${bucket}/${path}`)
    return new URL(`https://${bucket}.s3.${region}.amazonaws.com/${path}`)
  }

  // Per key: the URL and request options (the poll reads one key over and over).
  const targets = new Map<
    string,
    { url: URL; options: http.RequestOptions; transport: typeof http | typeof https }
  >()

  /** The object, `not-modified`, `timeout`, or null when the SDK should handle this request instead. */
  async function get(
    objectKey: string,
    ifNoneMatch: string | undefined,
    limits: { timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<FastGetResult | null> {
    let cached = targets.get(objectKey)
    if (!cached) {
      const url = await target(objectKey)
      const secure = url.protocol === 'https:'
      cached = {
        url,
        transport: secure ? https : http,
        options: {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port || (secure ? 443 : 80),
          path: url.pathname,
          method: 'GET',
          agent: secure ? httpsAgent : httpAgent,
        },
      }
      if (targets.size > 64) targets.clear()
      targets.set(objectKey, cached)
    }
    // Signed like the SDK's GetObject: If-None-Match and x-tigris-consistent included.
    const headers: Record<string, string> = {}
    if (ifNoneMatch !== undefined) headers['if-none-match'] = ifNoneMatch
    if (options.consistentReads) headers['x-tigris-consistent'] = 'true'
    const { transport } = cached
    const requestOptions: http.RequestOptions = {
      ...cached.options,
      headers: await sign({ url: cached.url, headers }),
    }
    const { signal, timeoutMs } = limits
    signal?.throwIfAborted()
    return new Promise((resolve, reject) => {
      let settled = false
      let deadline: NodeJS.Timeout | undefined
      const finish = (outcome: FastGetResult | null, error?: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(deadline)
        signal?.removeEventListener('abort', onAbort)
        if (error !== undefined) reject(error)
        else resolve(outcome)
      }
      const onAbort = () => {
        request.destroy()
        finish(null, signal!.reason)
      }
      const request = transport.request(requestOptions, (response) => {
        const status = response.statusCode ?? 0
        const etag = response.headers.etag
        if (status === 304) {
          response.resume()
          response.on('end', () => finish({ status: 'not-modified' }))
          return
        }
        if (status !== 200 || typeof etag !== 'string') {
          response.resume()
          finish(null)
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        response.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > options.maxBytes) {
            response.destroy()
            finish(null)
            return
          }
          chunks.push(chunk)
        })
        response.on('end', () => {
          const joined = Buffer.concat(chunks)
          finish({
            status: 'ok',
            etag,
            body: new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength),
          })
        })
        response.on('error', () => finish(null))
      })
      // No answer in time is final (a timeout); any other failure goes to the SDK, which retries.
      deadline = setTimeout(() => {
        request.destroy()
        finish({ status: 'timeout' })
      }, timeoutMs)
      request.on('close', () => clearTimeout(deadline))
      request.on('error', () => finish(null))
      signal?.addEventListener('abort', onAbort, { once: true })
      request.end()
    })
  }

  function close(): void {
    httpAgent.destroy()
    httpsAgent.destroy()
  }

  return { get, close }
}
