/** Delete is idempotent; with `ifMatch` it removes only the expected version (`conditionalDelete`). */
import { strict as assert } from 'node:assert'
import { decode, expectOk, putOk } from '../assertions.js'
import { defineGroup } from '../suite.js'

export const deleteConformance = defineGroup('delete', 'delete', (h) => {
  h.test('deletes, and deleting again (or a key that never existed) is ok', async (storage, k) => {
    await putOk(storage, k('tmp.json'), 'x')
    assert.deepEqual(await storage.delete(k('tmp.json')), { status: 'ok' })
    assert.equal((await storage.get(k('tmp.json'))).status, 'not-found')
    assert.deepEqual(await storage.delete(k('tmp.json')), { status: 'ok' })
    assert.deepEqual(await storage.delete(k('never.json')), { status: 'ok' })
  })

  h.testWith(
    'conditionalDelete',
    'a conditional delete only removes the expected version',
    async (storage, k) => {
      const first = await putOk(storage, k('lock.json'), 'mine')
      const second = await putOk(storage, k('lock.json'), 'theirs')
      assert.deepEqual(await storage.delete(k('lock.json'), { ifMatch: first }), {
        status: 'precondition-failed',
      })
      assert.equal(decode((await expectOk(storage, k('lock.json'))).body), 'theirs')
      assert.deepEqual(await storage.delete(k('lock.json'), { ifMatch: second }), { status: 'ok' })
      assert.equal((await storage.get(k('lock.json'))).status, 'not-found')
    },
  )
})
