import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

const MB = 1024 * 1024
const SIZE = 200 * MB
const CHUNK = 1 * MB

describe('streaming a 200 MB object', () => {
  let dir: ReturnType<typeof tempDir>
  let storage: FsStorage

  beforeEach(() => {
    dir = tempDir('memory')
    storage = fsStorage({ dir: dir.path })
  })

  afterEach(async () => {
    await storage.close()
    dir.remove()
  })

  it('writes and reads it back with flat memory (RSS grows by less than 50 MB)', async () => {
    // Generated chunk by chunk into one reused buffer: the test itself never holds the object.
    const chunk = new Uint8Array(CHUNK)
    const written = createHash('sha256')
    async function* source() {
      for (let index = 0; index < SIZE / CHUNK; index++) {
        chunk.fill(index % 251)
        new DataView(chunk.buffer).setUint32(0, index)
        written.update(chunk)
        yield chunk
      }
    }
    const baseline = process.memoryUsage().rss
    let peak = baseline
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }
    const sampler = setInterval(sample, 5)
    try {
      const writeStart = performance.now()
      const put = await storage.put('artifacts/v2-big.tgz', source(), { contentLength: SIZE })
      const writeMs = performance.now() - writeStart
      expect(put).toEqual({ status: 'ok', etag: `"${written.digest('hex')}"` })

      const readStart = performance.now()
      const result = await storage.getStream('artifacts/v2-big.tgz')
      if (result.status !== 'ok') throw new Error(`expected the object, got ${result.status}`)
      expect(result.size).toBe(SIZE)
      const read = createHash('sha256')
      let received = 0
      for await (const piece of result.body as AsyncIterable<Buffer>) {
        read.update(piece)
        received += piece.byteLength
        sample()
      }
      const readMs = performance.now() - readStart
      expect(received).toBe(SIZE)
      expect(`"${read.digest('hex')}"`).toBe(put.status === 'ok' ? put.etag : '')

      const growthMb = (peak - baseline) / MB
      console.info(
        `200 MB: write ${writeMs.toFixed(0)} ms, read ${readMs.toFixed(0)} ms, RSS growth ${growthMb.toFixed(1)} MB`,
      )
      expect(growthMb).toBeLessThan(50)
    } finally {
      clearInterval(sampler)
    }
  })
})
