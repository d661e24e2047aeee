import { afterEach, expect, it } from 'vitest'
import { fsStorage } from '../src/index.js'
import { tempDir } from './fixtures/tempDir.js'

const dir = tempDir('siblings')
afterEach(() => dir.remove())

it('deleting every object of a folder at once succeeds, though the folder is pruned under the later deletes', async () => {
  const storage = fsStorage({ dir: dir.path })
  const keys = Array.from({ length: 64 }, (_, i) => `results/u1/m${i}.json`)
  await Promise.all(keys.map((key) => storage.put(key, '{}')))
  const deleted = await Promise.all(keys.map((key) => storage.delete(key)))
  expect(deleted.every((d) => d.status === 'ok')).toBe(true)
  expect((await storage.list('results')).items).toEqual([])
  await storage.close()
})
