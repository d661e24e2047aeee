/** `ifNoneMatch` on a get: the poll path, where not-modified costs no body (`conditionalGet`). */
import { strict as assert } from 'node:assert'
import { decode, putOk } from '../assertions.js'
import { defineGroup } from '../suite.js'

export const conditionalGetConformance = defineGroup('conditional-get', 'conditional GET', (h) => {
  h.testWith(
    'conditionalGet',
    'the current etag answers not-modified, without a body',
    async (storage, k) => {
      const etag = await putOk(storage, k('current.json'), '{"seq":1}')
      assert.deepEqual(await storage.get(k('current.json'), { ifNoneMatch: etag }), {
        status: 'not-modified',
      })
      assert.equal((await storage.getStream(k('current.json'), { ifNoneMatch: etag })).status, 'not-modified')
    },
  )

  h.testWith(
    'conditionalGet',
    'after an overwrite, the old etag gets the new content',
    async (storage, k) => {
      const first = await putOk(storage, k('current.json'), '{"seq":1}')
      const second = await putOk(storage, k('current.json'), '{"seq":2}')
      assert.notEqual(first, second, 'the etag must change when the content does')
      const result = await storage.get(k('current.json'), { ifNoneMatch: first })
      assert.equal(result.status, 'ok')
      if (result.status !== 'ok') return
      assert.equal(decode(result.body), '{"seq":2}')
      assert.equal(result.etag, second)
    },
  )

  h.testWith('conditionalGet', 'ifNoneMatch on a missing key is not-found', async (storage, k) => {
    assert.equal((await storage.get(k('none.json'), { ifNoneMatch: '"abc"' })).status, 'not-found')
  })
})
