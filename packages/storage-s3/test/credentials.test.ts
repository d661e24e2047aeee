import { inspect } from 'node:util'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { isRelupError } from '@relup/core'
import { type HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { s3Storage } from '../src/index.js'
import { BUCKET, CREDENTIALS, ENDPOINT, s3Error } from './fakeS3.js'

const { accessKeyId, secretAccessKey } = CREDENTIALS
const TIGRIS = {
  accessKeyId: 'tid_RelupTestAccessKey01',
  secretAccessKey: 'tsec_RelupTestSecretKey0123456789',
}

// Answers a store may give that echo credentials back: S3's 403 bodies name the access key id,
// SignatureDoesNotMatch carries the string to sign (with the credential scope), and a sloppy
// S3-compatible store may put the key in its message.
const answers: Record<string, (key: string) => HttpResponse<string>> = {
  'InvalidAccessKeyId (403)': (key) =>
    s3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: key,
    }),
  'SignatureDoesNotMatch (403)': (key) =>
    s3Error(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
      {
        AWSAccessKeyId: key,
        StringToSign: `AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/us-east-1/s3/aws4_request Credential=${key}/20260101`,
        CanonicalRequest: `GET\n/${BUCKET}/x\n\nauthorization:AWS4-HMAC-SHA256 Credential=${key}/20260101/us-east-1/s3/aws4_request`,
      },
    ),
  'a message that names the key (400)': (key) =>
    s3Error(400, 'InvalidArgument', `access key ${key} is not allowed here`),
  'InternalError (500)': () =>
    s3Error(500, 'InternalError', 'We encountered an internal error. Please try again.'),
  'NoSuchBucket (404)': () => s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist'),
}

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

/** Every way an error is commonly printed or shipped to a log. */
function renderings(error: unknown): Record<string, string> {
  const e = error as Error
  return {
    message: e.message,
    stack: String(e.stack),
    string: String(e),
    json: JSON.stringify(e),
    ownProps: JSON.stringify(Object.fromEntries(Object.entries(e))),
    cause: JSON.stringify((e as { cause?: unknown }).cause ?? null),
    inspect: inspect(e, { depth: 10 }),
  }
}

function expectNoSecrets(error: unknown, secrets: string[]) {
  for (const [how, text] of Object.entries(renderings(error))) {
    for (const secret of secrets) expect(text, `${how} must not contain a credential`).not.toContain(secret)
  }
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the operation to fail'),
    (error: unknown) => error,
  )
}

describe('credentials never appear in errors', () => {
  for (const [name, answer] of Object.entries(answers)) {
    it(`${name}: not in message, stack, String(), JSON or inspect of the error`, async () => {
      server.resetHandlers(http.all(`${ENDPOINT}/*`, () => answer(accessKeyId)))
      const storage = s3Storage({
        bucket: BUCKET,
        endpoint: ENDPOINT,
        credentials: CREDENTIALS,
        retry: { maxAttempts: 2, baseDelayMs: 1 },
        env: {},
      })
      try {
        const operations = [
          () => storage.get('current.json'),
          () => storage.put('current.json', '{}'),
          () => storage.list(''),
        ]
        for (const operation of operations) {
          const error = await failure(operation())
          expect(isRelupError(error)).toBe(true)
          expectNoSecrets(error, [accessKeyId, secretAccessKey])
        }
      } finally {
        await storage.close()
      }
    })
  }

  it('credentials from the environment (Tigris-style keys) are kept out too', async () => {
    server.resetHandlers(
      http.all(`${ENDPOINT}/*`, () => answers['SignatureDoesNotMatch (403)']!(TIGRIS.accessKeyId)),
    )
    const storage = s3Storage({
      retry: { maxAttempts: 1 },
      env: {
        BUCKET_NAME: BUCKET,
        AWS_ENDPOINT_URL_S3: ENDPOINT,
        AWS_REGION: 'auto',
        AWS_ACCESS_KEY_ID: TIGRIS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TIGRIS.secretAccessKey,
      },
    })
    try {
      const error = await failure(storage.get('current.json'))
      expect((error as Error).message).toContain('check the credentials')
      expectNoSecrets(error, [TIGRIS.accessKeyId, TIGRIS.secretAccessKey])
    } finally {
      await storage.close()
    }
  })

  it('the SDK error itself does carry the access key (which is why it is never attached)', async () => {
    server.resetHandlers(http.all(`${ENDPOINT}/*`, () => answers['InvalidAccessKeyId (403)']!(accessKeyId)))
    const client = new S3Client({
      endpoint: ENDPOINT,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: CREDENTIALS,
    })
    try {
      const raw = await failure(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'current.json' })))
      expect(JSON.stringify(raw)).toContain(accessKeyId)
    } finally {
      client.destroy()
    }
  })
})
