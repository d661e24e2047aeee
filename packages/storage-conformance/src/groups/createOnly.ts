/** `ifNoneMatch: '*'` on a put: exactly one writer creates a key (`createOnly`). */
import { strict as assert } from 'node:assert'
import { decode, expectOk } from '../assertions.js'
import { defineGroup } from '../suite.js'

export const createOnlyConformance = defineGroup('create-only', 'create-only (ifNoneMatch: "*")', (h) => {
  h.testWith('createOnly', 'creates a missing key and refuses an existing one', async (storage, k) => {
    assert.equal((await storage.put(k('lock.json'), 'first', { ifNoneMatch: '*' })).status, 'ok')
    assert.deepEqual(await storage.put(k('lock.json'), 'second', { ifNoneMatch: '*' }), {
      status: 'precondition-failed',
    })
    assert.equal(decode((await expectOk(storage, k('lock.json'))).body), 'first')
  })

  h.testWith(
    'createOnly',
    '20 concurrent create-only puts of one key: exactly one wins',
    async (storage, k) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          storage.put(k('race.json'), `writer-${i}`, { ifNoneMatch: '*' }),
        ),
      )
      const winners = results.flatMap((r, i) => (r.status === 'ok' ? [i] : []))
      assert.equal(winners.length, 1, `exactly one create-only put must win, ${winners.length} did`)
      for (const r of results) assert.ok(r.status === 'ok' || r.status === 'precondition-failed')
      assert.equal(decode((await expectOk(storage, k('race.json'))).body), `writer-${winners[0]}`)
    },
  )
})
