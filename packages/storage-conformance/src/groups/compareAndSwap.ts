/** `ifMatch` on a put: a write succeeds only over the version it read (`compareAndSwap`). */
import { strict as assert } from 'node:assert'
import { decode, expectOk, putOk } from '../assertions.js'
import { defineGroup } from '../suite.js'

export const compareAndSwapConformance = defineGroup(
  'compare-and-swap',
  'compare-and-swap (ifMatch)',
  (h) => {
    h.testWith('compareAndSwap', 'replaces on the current etag, refuses a stale one', async (storage, k) => {
      const first = await putOk(storage, k('pointer.json'), 'v1')
      const swapped = await storage.put(k('pointer.json'), 'v2', { ifMatch: first })
      assert.equal(swapped.status, 'ok')
      assert.deepEqual(await storage.put(k('pointer.json'), 'v3', { ifMatch: first }), {
        status: 'precondition-failed',
      })
      assert.equal(decode((await expectOk(storage, k('pointer.json'))).body), 'v2')
    })

    h.testWith('compareAndSwap', 'ifMatch on a missing key fails', async (storage, k) => {
      assert.deepEqual(await storage.put(k('absent.json'), 'x', { ifMatch: '"0123456789abcdef"' }), {
        status: 'precondition-failed',
      })
      assert.equal((await storage.get(k('absent.json'))).status, 'not-found')
    })

    h.testWith(
      'compareAndSwap',
      '20 concurrent puts with the same ifMatch: exactly one wins',
      async (storage, k) => {
        const etag = await putOk(storage, k('pointer.json'), 'base')
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            storage.put(k('pointer.json'), `writer-${i}`, { ifMatch: etag }),
          ),
        )
        const winners = results.flatMap((r, i) => (r.status === 'ok' ? [i] : []))
        assert.equal(winners.length, 1, `exactly one compare-and-swap must win, ${winners.length} did`)
        assert.equal(decode((await expectOk(storage, k('pointer.json'))).body), `writer-${winners[0]}`)
      },
    )
  },
)
