/**
 * The poll path, without the SDK. A machine reads its pointer every second; through the SDK a
 * conditional GetObject that ends in 304 costs over a millisecond of CPU (a middleware stack,
 * and an exception built for the 304). This signs the same request with SigV4 itself (the day's
 * signing key cached) and sends it on a keep-alive socket, for a fraction of that.
 *
 * It handles only the answers a poll expects (200 and 304) and steps aside for anything else
 * (404, 5xx, a reset connection…): the caller then repeats the request through the SDK, which
 * retries and maps errors as everywhere else.
 */
import { createHash, createHmac } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { S3Client } from '@aws-sdk/client-s3'

export type FastGetResult =
  | { status: 'ok'; etag: string; body: Uint8Array }
  | { status: 'not-modified' }
  /** No answer within the timeout: final, like the SDK path's deadline. */
  | { status: 'timeout' }

interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string | undefined
  expiration?: Date | undefined
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')

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

let cachedKey: { secret: string; day: string; region: string; key: Buffer } | undefined

/** `20261127T003237Z` */
let lastDate = { second: -1, text: '' }

/** `20261127T003237Z`, computed once a second. */
function amzDate(now: number): string {
  const second = Math.floor(now / 1000)
  if (second !== lastDate.second) {
    lastDate = { second, text: new Date(second * 1000).toISOString().replace(/[:-]|\.\d{3}/g, '') }
  }
  return lastDate.text
}

/** The day's SigV4 signing key (cached: it changes once a day, or with the secret). */
function signingKey(secret: string, day: string, region: string): Buffer {
  if (cachedKey && cachedKey.secret === secret && cachedKey.day === day && cachedKey.region === region)
    return cachedKey.key
  const hmac = (key: string | Buffer, value: string) => createHmac('sha256', key).update(value).digest()
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 's3'), 'aws4_request')
  cachedKey = { secret, day, region, key }
  return key
}

/**
 * The `Authorization` header of an S3 request signed with SigV4 (as AWS documents it): every
 * header given is signed; `headers` must hold `host` and `x-amz-date`, with lowercase names.
 */
export function sigV4Authorization(request: {
  method: string
  url: URL
  headers: Record<string, string>
  credentials: { accessKeyId: string; secretAccessKey: string }
  region: string
  payloadHash: string
}): string {
  const { headers, url, region } = request
  const amzDate = headers['x-amz-date']!
  const day = amzDate.slice(0, 8)
  const names = Object.keys(headers).sort()
  const query =
    url.search === ''
      ? ''
      : [...url.searchParams]
          .map(([k, v]) => [encodeKeyPath(k), encodeKeyPath(v)])
          .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
          .map(([k, v]) => `${k}=${v}`)
          .join('&')
  const canonical = [
    request.method,
    url.pathname,
    query,
    ...names.map((name) => `${name}:${headers[name]!.trim()}`),
    '',
    names.join(';'),
    request.payloadHash,
  ].join('\n')
  const scope = `${day}/${region}/s3/aws4_request`
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`
  const signature = createHmac('sha256', signingKey(request.credentials.secretAccessKey, day, region))
    .update(toSign)
    .digest('hex')
  return `AWS4-HMAC-SHA256 Credential=${request.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
}

export interface FastGetOptions {
  client: S3Client
  bucket: string
  endpoint: string | undefined
  forcePathStyle: boolean
  consistentReads: boolean
  maxBytes: number
}

export function createFastGet(options: FastGetOptions) {
  const { client, bucket } = options
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 })
  let credentials: Credentials | undefined
  let region: string | undefined

  async function currentCredentials(): Promise<Credentials> {
    const fresh =
      credentials?.expiration === undefined || credentials.expiration.getTime() - Date.now() > 5 * 60_000
    if (credentials && fresh) return credentials
    credentials = (await client.config.credentials()) as Credentials
    return credentials
  }

  async function target(objectKey: string): Promise<URL> {
    region ??= await client.config.region()
    const path = encodeKeyPath(objectKey)
    if (options.endpoint !== undefined) {
      const base = new URL(options.endpoint)
      const basePath = base.pathname.replace(/\/+$/, '')
      if (options.forcePathStyle)
        return new URL(`${base.protocol}//${base.host}${basePath}/${bucket}/${path}`)
      return new URL(`${base.protocol}//${bucket}.${base.host}${basePath}/${path}`)
    }
    // Buckets with dots cannot be virtual-hosted over HTTPS.
    if (bucket.includes('.') || options.forcePathStyle)
      return new URL(`https://s3.${region}.amazonaws.com/${bucket}/${path}`)
    return new URL(`https://${bucket}.s3.${region}.amazonaws.com/${path}`)
  }

  /** The object, `not-modified`, or null when the SDK should handle this request instead. */
  // Per key: the URL and request options (the poll reads one key over and over).
  const targets = new Map<
    string,
    { url: URL; options: http.RequestOptions; transport: typeof http | typeof https }
  >()

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
    const creds = await currentCredentials()
    const headers: Record<string, string> = {
      host: cached.url.host,
      'x-amz-content-sha256': EMPTY_SHA256,
      'x-amz-date': amzDate(Date.now()),
    }
    if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken
    if (options.consistentReads) headers['x-tigris-consistent'] = 'true'
    const authorization = sigV4Authorization({
      method: 'GET',
      url: cached.url,
      headers,
      credentials: creds,
      region: region!,
      payloadHash: EMPTY_SHA256,
    })
    const { host: _host, ...sent } = headers
    const { transport } = cached
    const requestOptions: http.RequestOptions = {
      ...cached.options,
      headers: {
        ...sent,
        authorization,
        ...(ifNoneMatch !== undefined ? { 'if-none-match': ifNoneMatch } : {}),
      },
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
