/**
 * An S3 bucket faked with MSW, close enough to S3 for what the adapter relies on: ETags,
 * conditional GET (304 with no body), create-only and compare-and-swap PUTs (412, and 404
 * NoSuchKey for If-Match on a missing key), conditional DELETE, ListObjectsV2 pages with
 * continuation tokens, and S3's XML error bodies. Every request is recorded.
 */
import { createHash } from 'node:crypto'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import { type S3Storage, type S3StorageOptions, s3Storage } from '../src/index.js'

export const ENDPOINT = 'http://s3.relup.test'
export const BUCKET = 'relup-bucket'
export const CREDENTIALS = {
  accessKeyId: 'AKIARELUPTESTKEY0001',
  secretAccessKey: 'relup/test+secret/DO-NOT-LEAK/0123456789',
}

export interface RecordedRequest {
  method: string
  url: URL
  /** The object key (path after the bucket, decoded), `''` for bucket requests. */
  key: string
  headers: Headers
}

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** An S3 error response: XML body with Code and Message (and any extra elements). */
export function s3Error(
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
): HttpResponse<string> {
  const fields = Object.entries(extra)
    .map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`)
    .join('')
  return new HttpResponse(
    xml(
      `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>${fields}<RequestId>REQ123</RequestId></Error>`,
    ),
    { status, headers: { 'content-type': 'application/xml' } },
  )
}

const etagOf = (body: Uint8Array) => `"${createHash('md5').update(body).digest('hex')}"`
const unquote = (etag: string) => etag.trim().replace(/^"(.*)"$/, '$1')

export function keyOf(url: URL, bucket = BUCKET): string {
  const path = decodeURIComponent(url.pathname)
  return path.startsWith(`/${bucket}/`) ? path.slice(bucket.length + 2) : ''
}

export function fakeS3(bucket = BUCKET) {
  const objects = new Map<string, { body: Uint8Array; etag: string }>()
  const requests: RecordedRequest[] = []
  const record = (request: Request) => {
    const url = new URL(request.url)
    requests.push({
      method: request.method,
      url,
      key: keyOf(url, bucket),
      headers: new Headers(request.headers),
    })
  }

  const handlers = [
    http.get(`${ENDPOINT}/${bucket}`, ({ request }) => {
      record(request)
      const url = new URL(request.url)
      if (url.searchParams.get('list-type') !== '2')
        return s3Error(400, 'InvalidArgument', 'only ListObjectsV2 is faked')
      const prefix = url.searchParams.get('prefix') ?? ''
      const maxKeys = Number(url.searchParams.get('max-keys') ?? 1000)
      if (!Number.isInteger(maxKeys) || maxKeys < 0)
        return s3Error(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range')
      const after = url.searchParams.get('continuation-token') ?? ''
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort()
      const page = keys.slice(0, maxKeys)
      const truncated = keys.length > page.length
      const contents = page
        .map(
          (k) =>
            `<Contents><Key>${escapeXml(k)}</Key><ETag>${escapeXml(objects.get(k)!.etag)}</ETag><Size>${objects.get(k)!.body.byteLength}</Size></Contents>`,
        )
        .join('')
      return new HttpResponse(
        xml(
          `<ListBucketResult><Name>${bucket}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${
            truncated
              ? `<NextContinuationToken>${escapeXml(page[page.length - 1]!)}</NextContinuationToken>`
              : ''
          }</ListBucketResult>`,
        ),
        { headers: { 'content-type': 'application/xml' } },
      )
    }),

    http.get(`${ENDPOINT}/${bucket}/*`, ({ request }) => {
      record(request)
      const key = keyOf(new URL(request.url), bucket)
      const object = objects.get(key)
      if (!object) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key })
      const ifNoneMatch = request.headers.get('if-none-match')
      if (ifNoneMatch !== null && unquote(ifNoneMatch) === unquote(object.etag)) {
        return new HttpResponse(null, { status: 304, headers: { ETag: object.etag } })
      }
      return new HttpResponse(object.body, {
        headers: { ETag: object.etag, 'content-length': String(object.body.byteLength) },
      })
    }),

    http.put(`${ENDPOINT}/${bucket}/*`, async ({ request }) => {
      record(request)
      const key = keyOf(new URL(request.url), bucket)
      const body = new Uint8Array(await request.arrayBuffer())
      const existing = objects.get(key)
      if (request.headers.get('if-none-match') === '*' && existing) {
        return s3Error(
          412,
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
          {
            Condition: 'If-None-Match',
          },
        )
      }
      const ifMatch = request.headers.get('if-match')
      if (ifMatch !== null) {
        if (!existing) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key })
        if (unquote(ifMatch) !== unquote(existing.etag)) {
          return s3Error(
            412,
            'PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
            {
              Condition: 'If-Match',
            },
          )
        }
      }
      const etag = etagOf(body)
      objects.set(key, { body, etag })
      return new HttpResponse(null, { status: 200, headers: { ETag: etag } })
    }),

    http.delete(`${ENDPOINT}/${bucket}/*`, ({ request }) => {
      record(request)
      const key = keyOf(new URL(request.url), bucket)
      const existing = objects.get(key)
      const ifMatch = request.headers.get('if-match')
      if (ifMatch !== null) {
        if (!existing) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key })
        if (unquote(ifMatch) !== unquote(existing.etag)) {
          return s3Error(
            412,
            'PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
            {
              Condition: 'If-Match',
            },
          )
        }
      }
      objects.delete(key)
      return new HttpResponse(null, { status: 204 })
    }),
  ]

  return {
    handlers,
    objects,
    requests,
    record,
    /** Store an object directly; returns its etag. */
    seed(key: string, body: string | Uint8Array): string {
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body
      const etag = etagOf(bytes)
      objects.set(key, { body: bytes, etag })
      return etag
    },
  }
}

/**
 * MSW serving a fresh fake bucket to every test, and `storageFor()` for an adapter pointed at it
 * (closed after each test). Call once at the top of a test file.
 */
export function useMockedS3(onUnhandledRequest: 'error' | 'bypass' = 'error') {
  const server = setupServer()
  const opened: S3Storage[] = []
  let current = fakeS3()
  beforeAll(() => server.listen({ onUnhandledRequest }))
  beforeEach(() => {
    current = fakeS3()
    server.resetHandlers(...current.handlers)
  })
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((storage) => storage.close()))
  })
  afterAll(() => server.close())

  function storageFor(options: S3StorageOptions = {}): S3Storage {
    const storage = s3Storage({
      bucket: BUCKET,
      prefix: 'relup/chat',
      endpoint: ENDPOINT,
      region: 'us-east-1',
      credentials: CREDENTIALS,
      retry: { baseDelayMs: 1, ...options.retry },
      env: {},
      ...options,
    })
    opened.push(storage)
    return storage
  }

  return {
    server,
    storageFor,
    /** Adapters opened elsewhere in the test, to close with the others. */
    opened,
    /** This test's bucket. */
    get fake() {
      return current
    },
  }
}
