/**
 * The two storages a fleet runs on in the tests: a directory (`file://`) and a real S3-compatible
 * server on loopback (s3rver, `s3://bucket/prefix` with the `AWS_*` variables). The servers and
 * the CLI reach it through its URL and environment; the test reads what the machines wrote
 * (results, machine records) through `storage`, a client on the same bucket.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Storage } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'

export interface FleetBackend {
  /** `RELUP_STORAGE` of the servers, `--storage` of the CLI. */
  storageUrl: string
  /** What a child process needs besides the URL (the S3 endpoint and credentials). */
  env: NodeJS.ProcessEnv
  /** A client on the same storage, for the test's own reads. */
  storage: Storage
  /** Stops the backend's server and removes its files (idempotent). */
  close(): Promise<void>
}

export interface BackendKind {
  name: string
  open(): Promise<FleetBackend>
}

export const fileBackend: BackendKind = {
  name: 'filesystem storage (file://)',
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'relup-fleet-fs-'))
    const storage = fsStorage({ dir })
    return {
      storageUrl: `file://${dir}`,
      env: {},
      storage,
      close: () => rm(dir, { recursive: true, force: true }),
    }
  },
}

const BUCKET = 'relup-fleet'
const PREFIX = 'fleet-e2e'

export const s3Backend: BackendKind = {
  name: 'S3 storage (s3rver, s3://bucket/prefix)',
  async open() {
    const server = await startS3rver()
    try {
      await server.createBucket(BUCKET)
    } catch (error) {
      await server.stop()
      throw error
    }
    const env = s3rverEnv(server, BUCKET)
    const storage = s3Storage({ bucket: BUCKET, prefix: PREFIX, env })
    return {
      storageUrl: `s3://${BUCKET}/${PREFIX}`,
      env,
      storage,
      async close() {
        await storage.close?.()
        await server.stop()
      },
    }
  },
}
