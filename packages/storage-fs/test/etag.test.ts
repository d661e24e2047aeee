import { createHash } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

const etagOf = (put: { status: string; etag?: string }) => {
  if (put.status !== 'ok' || !put.etag) throw new Error(`put failed: ${put.status}`)
  return put.etag
}

describe('etags are strong validators derived from the content', () => {
  let dir: ReturnType<typeof tempDir>
  let storage: FsStorage

  beforeEach(() => {
    dir = tempDir('etag')
    storage = fsStorage({ dir: dir.path })
  })

  afterEach(async () => {
    await storage.close()
    dir.remove()
  })

  it('is the quoted sha256 of the content', async () => {
    const etag = etagOf(await storage.put('doc.json', '{"seq":1}'))
    expect(etag).toBe(`"${createHash('sha256').update('{"seq":1}').digest('hex')}"`)
  })

  it('the same content gives the same etag (any key, any write); other content another', async () => {
    const first = etagOf(await storage.put('a.json', 'same'))
    expect(etagOf(await storage.put('b.json', 'same'))).toBe(first)
    expect(etagOf(await storage.put('a.json', 'same'))).toBe(first)
    expect(etagOf(await storage.put('a.json', 'Same'))).not.toBe(first)
  })

  it('survives a new fsStorage on the same directory: conditional reads and writes keep working', async () => {
    const etag = etagOf(await storage.put('current.json', '{"seq":1}'))
    await storage.close()
    const reopened = fsStorage({ dir: dir.path })
    try {
      expect(await reopened.get('current.json', { ifNoneMatch: etag })).toEqual({ status: 'not-modified' })
      expect((await reopened.list('')).items[0]?.etag).toBe(etag)
      expect((await reopened.put('current.json', '{"seq":2}', { ifMatch: etag })).status).toBe('ok')
      expect(await reopened.put('current.json', '{"seq":3}', { ifMatch: etag })).toEqual({
        status: 'precondition-failed',
      })
    } finally {
      await reopened.close()
    }
  })

  it('a conditional GET answers from the stored etag, without reading or hashing the content', async () => {
    const content = new Uint8Array(8 * 1024 * 1024).fill(7)
    const etag = etagOf(await storage.put('artifact.bin', content))
    // Change the last content byte behind the adapter's back: only a re-hash would notice.
    const fd = openSync(join(dir.path, 'artifact.bin.relup'), 'r+')
    writeSync(fd, new Uint8Array([8]), 0, 1, 128 + content.byteLength - 1)
    closeSync(fd)
    expect(await storage.get('artifact.bin', { ifNoneMatch: etag })).toEqual({ status: 'not-modified' })
    expect((await storage.getStream('artifact.bin', { ifNoneMatch: etag })).status).toBe('not-modified')
  })
})
