/** Objects come back byte for byte, whatever their size, bytes or key. */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { listAll } from '@relup/core'
import { decode, expectOk, putOk, sha, text } from '../assertions.js'
import { defineGroup } from '../suite.js'

export const roundTripConformance = defineGroup('round-trip', 'round trips', (h) => {
  for (const [label, size] of [
    ['0 B', 0],
    ['1 B', 1],
    ['10 MB', 10 * 1024 * 1024],
  ] as const) {
    h.test(`stores and returns a ${label} object byte for byte`, async (storage, k) => {
      const body = new Uint8Array(randomBytes(size))
      const etag = await putOk(storage, k('object.bin'), body)
      const result = await expectOk(storage, k('object.bin'))
      assert.equal(result.body.byteLength, size)
      assert.equal(sha(result.body), sha(body))
      assert.equal(result.etag, etag, 'get must return the etag put returned')
    })
  }

  h.test('keeps arbitrary bytes (every byte value, invalid UTF-8) intact', async (storage, k) => {
    const body = new Uint8Array(512)
    for (let i = 0; i < body.length; i++) body[i] = i % 256
    body.set([0xc3, 0x28, 0xff, 0xfe, 0x00], 256)
    await putOk(storage, k('bytes'), body)
    assert.deepEqual((await expectOk(storage, k('bytes'))).body, body)
  })

  h.test('accepts keys with unicode, spaces and slashes', async (storage, k) => {
    const keys = [
      k('with space/file name.json'),
      k('ünïcødé/日本語/ファイル.txt'),
      k('deep/a/b/c/d/e/f.txt'),
      k('emoji-🚀.bin'),
    ]
    for (const key of keys) await putOk(storage, key, key)
    for (const key of keys) assert.equal(decode((await expectOk(storage, key)).body), key)
    const listed = []
    for await (const item of listAll(storage, k(''))) listed.push(item.key)
    assert.deepEqual([...listed].sort(), [...keys].sort())
  })

  h.test('a string body is stored as its UTF-8 bytes', async (storage, k) => {
    await putOk(storage, k('text.txt'), 'héllo wörld')
    assert.deepEqual((await expectOk(storage, k('text.txt'))).body, text('héllo wörld'))
  })

  h.test('an overwrite replaces the content', async (storage, k) => {
    await putOk(storage, k('doc.json'), '{"v":1}')
    await putOk(storage, k('doc.json'), '{"v":2}')
    assert.equal(decode((await expectOk(storage, k('doc.json'))).body), '{"v":2}')
  })

  h.test('a missing key is not-found, not an error', async (storage, k) => {
    assert.deepEqual(await storage.get(k('missing.json')), { status: 'not-found' })
    assert.equal((await storage.getStream(k('missing.json'))).status, 'not-found')
  })
})
