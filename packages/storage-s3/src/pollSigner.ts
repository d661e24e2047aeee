/**
 * SigV4 for the poll path, as AWS documents it, for a GET with no body: the day's signing key and
 * the date string are cached, so a poll costs one SHA-256 and one HMAC. The tests check that it
 * gives exactly the signature the S3 client's own signer gives the same request.
 *
 * Why not the SDK's signer (`@smithy/signature-v4`)? It does the same, with more work per request
 * (a second HMAC to look up its key cache, JS hex encoding, a cloned request, a date formatted per
 * call): `bench/idle-polling.bench.mjs` runs the poll path with both, and the library signer costs
 * more than the 10 % CPU per poll it was allowed.
 */
import { createHash, createHmac } from 'node:crypto'
import type { S3Client } from '@aws-sdk/client-s3'

export interface PollRequest {
  /** Path-encoded already (see `encodeKeyPath`); the query, if any, is signed too. */
  url: URL
  /** Lowercase names, all signed. `host` comes from the URL. */
  headers: Record<string, string>
}

/**
 * Signs a GET and returns the headers to send: those given, `host`, `x-amz-date`,
 * `x-amz-content-sha256`, `authorization`, and `x-amz-security-token` with session credentials.
 */
export type SignPoll = (request: PollRequest, signingDate?: Date) => Promise<Record<string, string>>

interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string | undefined
  expiration?: Date | undefined
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')
/** Credentials are refreshed this long before they expire. */
const REFRESH_MARGIN_MS = 5 * 60_000

/** RFC 3986 encoding, as SigV4 wants it (`encodeURIComponent` leaves `!'()*` alone). */
const uriEscape = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

const hmac = (key: string | Buffer, value: string) => createHmac('sha256', key).update(value).digest()

export function createPollSigner(client: S3Client): SignPoll {
  let credentials: Credentials | undefined
  let region: string | undefined
  // The day's signing key: it changes once a day, or with the secret.
  let signingKey: { secret: string; day: string; region: string; key: Buffer } | undefined
  // `20261127T003237Z`, formatted once a second.
  let date = { second: Number.NaN, text: '' }

  async function currentCredentials(): Promise<Credentials> {
    const expires = credentials?.expiration?.getTime()
    if (credentials && (expires === undefined || expires - Date.now() > REFRESH_MARGIN_MS)) return credentials
    credentials = (await client.config.credentials()) as Credentials
    return credentials
  }

  function amzDate(time: number): string {
    const second = Math.floor(time / 1000)
    if (second !== date.second)
      date = { second, text: new Date(second * 1000).toISOString().replace(/[:-]|\.\d{3}/g, '') }
    return date.text
  }

  function keyFor(secret: string, day: string, inRegion: string): Buffer {
    if (signingKey?.secret !== secret || signingKey.day !== day || signingKey.region !== inRegion) {
      const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), inRegion), 's3'), 'aws4_request')
      signingKey = { secret, day, region: inRegion, key }
    }
    return signingKey.key
  }

  return async ({ url, headers: given }, signingDate) => {
    const creds = await currentCredentials()
    region ??= await client.config.region()
    // The SDK path learns the store's clock skew (RequestTimeTooSkewed); sign with it here too.
    const time = signingDate?.getTime() ?? Date.now() + client.config.systemClockOffset
    const headers: Record<string, string> = {
      ...given,
      host: url.host,
      'x-amz-content-sha256': EMPTY_SHA256,
      'x-amz-date': amzDate(time),
    }
    if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken
    const day = headers['x-amz-date']!.slice(0, 8)
    const names = Object.keys(headers).sort()
    // Sorted by name, then value.
    const query = [...url.searchParams]
      .map(([name, value]) => [uriEscape(name), uriEscape(value)] as const)
      .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`)
      .join('&')
    const canonical = [
      'GET',
      url.pathname,
      query,
      ...names.map((name) => `${name}:${headers[name]!.trim()}`),
      '',
      names.join(';'),
      EMPTY_SHA256,
    ].join('\n')
    const scope = `${day}/${region}/s3/aws4_request`
    const digest = createHash('sha256').update(canonical).digest('hex')
    const toSign = `AWS4-HMAC-SHA256\n${headers['x-amz-date']}\n${scope}\n${digest}`
    const signature = createHmac('sha256', keyFor(creds.secretAccessKey, day, region))
      .update(toSign)
      .digest('hex')
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
    return headers
  }
}
