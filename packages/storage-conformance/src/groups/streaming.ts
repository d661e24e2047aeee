/** Large objects move as streams, both ways, and a failed upload leaves nothing behind. */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { putOk, readAll, sha } from '../assertions.js'
import { defineGroup } from '../suite.js'

export const streamingConformance = defineGroup('streaming', 'streaming', (h) => {
  h.test('getStream returns the object as a readable stream', async (storage, k) => {
    const body = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17))
    await putOk(storage, k('artifact.tgz'), body)
    const result = await storage.getStream(k('artifact.tgz'))
    assert.equal(result.status, 'ok')
    if (result.status !== 'ok') return
    if (result.size !== undefined) assert.equal(result.size, body.byteLength)
    const received = await readAll(result.body)
    assert.equal(sha(received), sha(body))
  })

  h.test('put accepts a streamed body (an async iterable of chunks)', async (storage, k) => {
    const chunks = Array.from({ length: 40 }, () => new Uint8Array(randomBytes(256 * 1024)))
    const total = chunks.reduce((n, c) => n + c.byteLength, 0)
    async function* source() {
      for (const chunk of chunks) {
        await new Promise((resolve) => setImmediate(resolve))
        yield chunk
      }
    }
    const result = await storage.put(k('streamed.bin'), source(), { contentLength: total })
    assert.equal(result.status, 'ok')
    const stored = await storage.getStream(k('streamed.bin'))
    assert.equal(stored.status, 'ok')
    if (stored.status !== 'ok') return
    assert.equal(sha(await readAll(stored.body)), sha(Buffer.concat(chunks)))
  })

  h.test('a failed streamed upload leaves no object behind', async (storage, k) => {
    async function* broken() {
      yield new Uint8Array(randomBytes(64 * 1024))
      throw new Error('source failed mid-way')
    }
    await assert.rejects(storage.put(k('partial.bin'), broken(), { contentLength: 128 * 1024 }))
    assert.equal(
      (await storage.get(k('partial.bin'))).status,
      'not-found',
      'a half-written object must not be visible',
    )
  })
})
