import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type FsStorage, fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

async function listEverything(storage: FsStorage, prefix: string, limit: number): Promise<string[]> {
  const keys: string[] = []
  let cursor: string | undefined
  do {
    const page = await storage.list(prefix, { cursor, limit })
    expect(page.items.length).toBeLessThanOrEqual(limit)
    keys.push(...page.items.map((item) => item.key))
    cursor = page.cursor
  } while (cursor !== undefined)
  return keys
}

describe('listing', () => {
  let dir: ReturnType<typeof tempDir>
  let storage: FsStorage

  beforeEach(() => {
    dir = tempDir('listing')
    storage = fsStorage({ dir: dir.path })
  })

  afterEach(async () => {
    await storage.close()
    dir.remove()
  })

  // "/" sorts after "." and "-" but before "0"; an emoji (a surrogate pair) sorts before U+FFFD in
  // JS string order, though after it in code point order.
  const tricky = [
    'a',
    'a/b',
    'a/b/c',
    'a.b',
    'a-b',
    'a0',
    'A',
    'a b',
    'a%',
    'b',
    'é',
    'z/😀',
    'z/\uFFFD',
    'z/~',
    'a/b.c/d',
  ]

  it('returns keys in JS string order, whatever the folders, for every page size', async () => {
    for (const key of tricky) await storage.put(key, key)
    const expected = [...tricky].sort()
    for (const limit of [1, 2, 3, 7, 1000]) expect(await listEverything(storage, '', limit)).toEqual(expected)
  })

  it('the cursor is the last key returned, and the last page has none', async () => {
    for (const key of ['f/1', 'f/2', 'f/3/x', 'f/4']) await storage.put(key, 'x')
    const first = await storage.list('f', { limit: 3 })
    expect(first.items.map((item) => item.key)).toEqual(['f/1', 'f/2', 'f/3/x'])
    expect(first.cursor).toBe('f/3/x')
    const second = await storage.list('f', { cursor: first.cursor, limit: 3 })
    expect(second).toEqual({ items: [expect.objectContaining({ key: 'f/4' })] })
  })

  it('a limit that is not a number falls back to the default page; a fraction is rounded down', async () => {
    for (const key of ['n/1', 'n/2', 'n/3']) await storage.put(key, 'x')
    expect((await storage.list('n', { limit: Number.NaN })).items).toHaveLength(3)
    expect((await storage.list('n', { limit: 2.9 })).items).toHaveLength(2)
    expect((await storage.list('n', { limit: 0 })).items).toHaveLength(1)
  })

  it('items carry the size and the etag put returned, read from the header', async () => {
    const put = await storage.put('docs/a.json', '{"a":1}')
    const items = (await storage.list('docs')).items
    expect(items).toEqual([{ key: 'docs/a.json', size: 7, etag: put.status === 'ok' ? put.etag : '' }])
  })

  it('ignores what relup did not write: stray files, links, foreign names and its own state', async () => {
    await storage.put('real/one', '1')
    await storage.put('real/two', '2')
    writeFileSync(join(dir.path, 'notes.txt'), 'not an object')
    writeFileSync(join(dir.path, 'real', 'README'), 'no suffix')
    writeFileSync(join(dir.path, 'real', 'garbage.relup'), 'a .relup file without a header')
    symlinkSync(join(dir.path, 'real', 'one.relup'), join(dir.path, 'real', 'link.relup'))
    mkdirSync(join(dir.path, 'not%zzcanonical'))
    writeFileSync(join(dir.path, 'not%zzcanonical', 'x.relup'), 'x')
    writeFileSync(join(dir.path, '.relup', 'tmp', 'half-written.tmp'), 'partial')
    expect((await storage.list('')).items.map((item) => item.key)).toEqual(['real/one', 'real/two'])
  })

  it('a folder that does not exist lists nothing', async () => {
    await storage.put('there/x', 'x')
    expect(await storage.list('nowhere')).toEqual({ items: [] })
    expect(await storage.list('there/x')).toEqual({ items: [] })
  })
})
