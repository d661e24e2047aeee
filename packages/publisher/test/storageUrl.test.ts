import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRelupError } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { DEFAULT_STORAGE, openStorage } from '../src/index.js'

describe('openStorage', () => {
  it('file:// opens a directory relative to cwd (the default is ./.relup)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relup-url-'))
    try {
      expect(DEFAULT_STORAGE).toBe('file://./.relup')
      const storage = await openStorage(DEFAULT_STORAGE, { cwd: dir })
      expect(storage.name).toContain(join(dir, '.relup'))
      expect((await storage.put('k', 'v')).status).toBe('ok')
      await storage.close?.()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('memory:<name> is one in-process store per name', async () => {
    const a = await openStorage('memory:url-test-a')
    await a.put('k', 'v')
    expect((await (await openStorage('memory:url-test-a')).get('k')).status).toBe('ok')
    expect((await (await openStorage('memory:url-test-b')).get('k')).status).toBe('not-found')
  })

  it('s3://bucket/prefix opens the S3 adapter on that bucket and prefix', async () => {
    const storage = await openStorage('s3://my-bucket/some/prefix/')
    expect(storage.name).toBe('s3://my-bucket/some/prefix')
    await storage.close?.()
  })

  it.each([
    ['ftp://nope', /unknown storage URL.*file:\/\/<dir>, s3:\/\/<bucket>/],
    ['file://', /file:\/\/ needs a directory/],
    ['s3://', /s3:\/\/ needs a bucket/],
  ])('%s is a configuration error that says what to write', async (url, message) => {
    const error = await openStorage(url).catch((e: unknown) => e)
    expect(isRelupError(error, 'ERR_RELUP_CONFIG')).toBe(true)
    expect((error as Error).message).toMatch(message)
  })
})
