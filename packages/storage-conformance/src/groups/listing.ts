/** A prefix is a folder, pages hold every key exactly once, and deleted keys vanish. */
import { strict as assert } from 'node:assert'
import { inParallel, putOk } from '../assertions.js'
import { defineGroup } from '../suite.js'

export const listingConformance = defineGroup('listing', 'listing', (h) => {
  h.test('a prefix is a folder: "a/b" does not match "a/bc/"', async (storage, k) => {
    for (const key of ['a/b/x', 'a/b/y/z', 'a/bc/x', 'a/b.txt', 'ab/x']) await putOk(storage, k(key), key)
    const page = await storage.list(k('a/b'))
    assert.deepEqual(
      page.items.map((i) => i.key),
      [k('a/b/x'), k('a/b/y/z')],
    )
    assert.equal(page.cursor, undefined)
    const slash = await storage.list(k('a/b/'))
    assert.deepEqual(
      slash.items.map((i) => i.key),
      [k('a/b/x'), k('a/b/y/z')],
      'a trailing slash lists the same folder',
    )
  })

  h.test('items carry their size, and an empty folder lists nothing', async (storage, k) => {
    await putOk(storage, k('sizes/one'), 'x')
    await putOk(storage, k('sizes/three'), 'xyz')
    const page = await storage.list(k('sizes'))
    assert.deepEqual(
      page.items.map((i) => [i.key, i.size]),
      [
        [k('sizes/one'), 1],
        [k('sizes/three'), 3],
      ],
    )
    assert.deepEqual((await storage.list(k('nothing-here'))).items, [])
  })

  h.test(`pagination past 1,000 keys returns every key exactly once`, async (storage, k) => {
    const keys = Array.from({ length: h.options.paginationKeys }, (_, i) =>
      k(`many/key-${String(i).padStart(5, '0')}`),
    )
    await inParallel(keys.length, 32, (i) => putOk(storage, keys[i]!, String(i)))
    const seen: string[] = []
    let pages = 0
    let cursor: string | undefined
    do {
      const page = await storage.list(k('many'), { cursor })
      assert.ok(page.items.length <= 1000, 'a page holds at most 1,000 items')
      seen.push(...page.items.map((i) => i.key))
      cursor = page.cursor
      pages++
      assert.ok(pages <= keys.length, 'listing does not terminate')
    } while (cursor !== undefined)
    assert.ok(pages >= 2, `expected at least 2 pages for ${keys.length} keys, got ${pages}`)
    assert.equal(new Set(seen).size, seen.length, 'a key was listed twice')
    assert.deepEqual([...seen].sort(), [...keys].sort())

    const small: string[] = []
    let smallPages = 0
    cursor = undefined
    do {
      const page = await storage.list(k('many'), { cursor, limit: 250 })
      assert.ok(page.items.length <= 250, 'limit is respected')
      small.push(...page.items.map((i) => i.key))
      cursor = page.cursor
      smallPages++
    } while (cursor !== undefined)
    assert.equal(smallPages, Math.ceil(keys.length / 250))
    assert.deepEqual([...small].sort(), [...keys].sort())
  })

  h.test('deleted keys vanish from the listing', async (storage, k) => {
    await putOk(storage, k('gone/a'), 'a')
    await putOk(storage, k('gone/b'), 'b')
    await storage.delete(k('gone/a'))
    assert.deepEqual(
      (await storage.list(k('gone'))).items.map((i) => i.key),
      [k('gone/b')],
    )
  })
})
