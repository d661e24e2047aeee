import { createHash } from 'node:crypto'
import type { Storage } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { publish } from '../src/index.js'
import { APP, bootPointer, hotDir, onCleanup, recordingReporter, tempDir } from './helpers.js'

async function sha256Of(storage: Storage, key: string): Promise<string> {
  const got = await storage.getStream(key)
  if (got.status !== 'ok') throw new Error(`${key} is missing`)
  const hash = createHash('sha256')
  for await (const chunk of got.body) hash.update(chunk as Uint8Array)
  return hash.digest('hex')
}

const stores: [string, () => Promise<Storage>][] = [
  ['the filesystem', async () => fsStorage({ dir: await tempDir('reuse-fs') })],
  [
    's3rver',
    async () => {
      const server = await startS3rver()
      onCleanup(() => server.stop())
      await server.createBucket('reuse')
      const storage = s3Storage({ bucket: 'reuse', env: s3rverEnv(server, 'reuse') })
      onCleanup(async () => storage.close?.())
      return storage
    },
  ],
]

describe.each(stores)('publishing the same build again, on %s', (_, open) => {
  it('verifies the artifact it would reuse, and replaces a corrupt one (saying so)', async () => {
    const storage = await open()
    await bootPointer(storage)
    const dir = await hotDir('v2')
    const first = await publish({ storage, app: APP, dir, version: 'v2', wait: false })
    const { key, sha256 } = first.upgrade.artifact
    await storage.put(key, 'garbage bytes where the artifact was')
    const { reporter, warnings } = recordingReporter()
    const second = await publish({ storage, app: APP, dir, version: 'v2', wait: false, reporter })
    expect(second.artifactReused).toBe(false)
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `artifact already stored at ${key.replaceAll('.', '\\.')} is corrupt \\(sha256 [0-9a-f]{12}…, 36 bytes; .*\\): replacing it`,
        ),
      ),
    ])
    expect(second.warnings).toEqual(warnings)
    expect(await sha256Of(storage, key)).toBe(sha256)
    // Intact now: the next publish reuses it without a warning.
    const third = await publish({ storage, app: APP, dir, version: 'v2', wait: false })
    expect(third).toMatchObject({ artifactReused: true, warnings: [] })
  }, 30_000)
})
