// Item 2: a pointer deleted and created again is followed (a new lineage starts over at seq 1);
// an out-of-date copy of the pointer the machine knows (same lineage, lower seq) is ignored, said
// once, and costs the polls after it a 304; a pointer that disappears is waited out.
import { initialPointer, type Logger, relupKeys, type Storage, writeDocument } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import {
  APP,
  publishDirect,
  readPointer,
  spyStorage,
  startRuntime,
  stubEngine,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'

const keys = relupKeys(APP)

const backends: [string, () => Promise<Storage>][] = [
  ['memory', async () => memoryStorage()],
  ['fs', async () => fsStorage({ dir: await tempDir('storage') })],
]

async function publish(storage: Storage, version: string) {
  return publishDirect(storage, await writeRelease(await tempDir(), version), { version })
}

/** A logger that keeps its warnings. */
function warnings(): Logger & { lines: string[] } {
  const lines: string[] = []
  const say = (obj: object | string, msg?: string) => lines.push(typeof obj === 'string' ? obj : (msg ?? ''))
  return { lines, debug() {}, info() {}, warn: say, error: say }
}

describe.each(backends)('the pointer lineage on %s storage', (_name, createStorage) => {
  it('a pointer deleted and created again (seq 1, a new lineage) is followed, and so are its upgrades', async () => {
    const storage = await createStorage()
    const relup = await startRuntime(storage, { engine: stubEngine() })
    for (const version of ['v2', 'v3', 'v4']) {
      await publish(storage, version)
      await waitForApplied(relup, version)
    }
    const before = await readPointer(storage)
    expect(before?.pointer.seq).toBe(4)

    // Someone deletes current.json; another machine restarts and writes a first pointer.
    await storage.delete(keys.current)
    await writeDocument(storage, keys.current, initialPointer(APP, 'image-1', { setBy: 'machine:m2' }), {
      ifNoneMatch: '*',
    })
    await waitFor(() => relup.getState().pointerSeq === 1, 'the machine to follow the new pointer')
    const hot = await publish(storage, 'v5')
    await waitForApplied(relup, 'v5')
    expect(relup.currentVsn()?.upgradeId).toBe(hot.upgradeId)
  })

  it('a pointer that disappears is waited out, and whatever pointer appears next is followed', async () => {
    const storage = await createStorage()
    const relup = await startRuntime(storage, { engine: stubEngine() })
    await publish(storage, 'v2')
    await waitForApplied(relup, 'v2')
    const backup = await storage.get(keys.current) // seq 2
    await publish(storage, 'v3')
    await waitForApplied(relup, 'v3')

    await storage.delete(keys.current)
    await waitFor(() => relup.getState().pointerSeq === null, 'the machine to see the pointer gone')
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(relup.getState()).toMatchObject({ mode: 'running', lastUpgrade: { version: 'v3' } })

    // An operator restores an old backup: the same lineage with a lower seq, yet the only pointer there is.
    if (backup.status !== 'ok') throw new Error('no backup')
    await storage.put(keys.current, backup.body, { ifNoneMatch: '*' })
    await waitFor(() => relup.getState().pointerSeq === 2, 'the machine to follow the restored pointer')
    const hot = await publish(storage, 'v4')
    await waitForApplied(relup, 'v4')
    expect(relup.currentVsn()?.upgradeId).toBe(hot.upgradeId)
  })

  it('an older copy of the same lineage is ignored, said once, and the polls after it are conditional on its ETag', async () => {
    const inner = await createStorage()
    let stale: { body: Uint8Array; etag: string } | null = null
    // A lagging replica: while `stale` is set, it answers reads of the pointer with that older copy.
    const replica: Storage = {
      ...inner,
      async get(key, options) {
        if (stale === null || key !== keys.current) return inner.get(key, options)
        if (options?.ifNoneMatch === stale.etag) return { status: 'not-modified' }
        return { status: 'ok', body: stale.body, etag: stale.etag }
      },
    }
    const spy = spyStorage(replica)
    const logger = warnings()
    const engine = stubEngine()
    const relup = await startRuntime(spy.storage, { engine, logger, pollInterval: 10 })
    await publish(inner, 'v2')
    await waitForApplied(relup, 'v2')
    const old = await inner.get(keys.current) // seq 2
    await publish(inner, 'v3')
    await waitForApplied(relup, 'v3')
    if (old.status !== 'ok') throw new Error('no old copy')

    stale = { body: old.body, etag: old.etag }
    const from = spy.gets(keys.current).length
    const reads = await waitFor(() => {
      const gets = spy.gets(keys.current).slice(from)
      return gets.length >= 6 && gets
    }, 'six polls against the lagging replica')

    expect(relup.getState()).toMatchObject({ pointerSeq: 3, lastUpgrade: { version: 'v3' } })
    expect(engine.calls).toHaveLength(2) // v2 and v3; nothing older was applied
    // The first poll downloads the older copy; every poll after it asks with that copy's ETag (a 304).
    for (const read of reads.slice(1)) expect(read.ifNoneMatch).toBe(old.etag)
    expect(logger.lines.filter((line) => line.includes('ignoring a stale pointer read'))).toEqual([
      'ignoring a stale pointer read (seq=2 known=3): an older copy of the pointer',
    ])
  })
})
