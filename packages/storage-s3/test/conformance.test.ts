import { storageConformance } from '@relup/storage-conformance'
import { type S3rverServer, startS3rver } from '@relup/testkit'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { s3Storage } from '../src/index.js'

// One real S3-compatible server (s3rver, enforcing conditional writes) for the whole suite; each
// test gets a fresh adapter under its own prefix of one bucket.
const BUCKET = 'relup-conformance'
let server: S3rverServer
let created = 0

beforeAll(async () => {
  server = await startS3rver()
  await server.createBucket(BUCKET)
})

afterAll(async () => {
  await server?.stop()
})

storageConformance({
  name: 's3 on s3rver',
  create: () =>
    s3Storage({
      bucket: BUCKET,
      prefix: `conformance/${process.pid}-${++created}`,
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      // The fixture enforces If-Match on DELETE, as AWS S3 does.
      conditionalDelete: true,
      env: {},
    }),
  cleanup: (storage) => storage.close?.(),
  // What s3Storage declares with conditionalDelete: true (the server starts after registration).
  capabilities: { conditionalGet: true, createOnly: true, compareAndSwap: true, conditionalDelete: true },
  describe,
  it,
})
