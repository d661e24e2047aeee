// The startup replay when it cannot finish: a failed apply keeps its backoff, and an unreadable
// pointer costs the polls after it no more than a conditional GET.
import { encodeDocument, initialPointer, relupKeys, writeDocument } from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import {
  APP,
  publishDirect,
  readPointer,
  spyStorage,
  startMachine,
  startRuntime,
  stubEngine,
  tempDir,
  waitFor,
  writeRelease,
} from './helpers.js'

const keys = relupKeys(APP)

describe('the startup replay', () => {
  it('a failed startup apply is retried after its backoff, not by the first poll', async () => {
    const spy = spyStorage(memoryStorage())
    await writeDocument(spy.storage, keys.current, initialPointer(APP, 'image-1', { setBy: 'test' }))
    await publishDirect(spy.storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    const engine = stubEngine(async () => {
      throw new Error('the new release does not load')
    })
    const relup = await startRuntime(spy.storage, { engine, pollInterval: 10, retryBaseDelay: 60_000 })
    expect(engine.releaseDirs).toHaveLength(1)
    expect(relup.getState()).toMatchObject({ upgradeFailures: 1, lastUpgrade: { status: 'failed' } })

    const readsAtBoot = spy.gets(keys.current).length
    await waitFor(() => spy.gets(keys.current).length >= readsAtBoot + 5, 'five polls')
    expect(engine.releaseDirs).toHaveLength(1)
    expect(relup.getState().upgradeFailures).toBe(1)
  })

  it('a malformed pointer at startup: the polls after it are conditional on its ETag', async () => {
    const spy = spyStorage(memoryStorage())
    const malformed = await spy.storage.put(
      keys.current,
      encodeDocument({ schema: 1, app: APP, baseRef: 'image-1' }),
    )
    if (malformed.status !== 'ok') throw new Error('could not write the malformed pointer')
    const machine = await startMachine(spy.storage, {
      baseDir: await writeRelease(await tempDir(), 'base'),
      pollInterval: 10,
    })
    expect(machine.engine.version).toBe('base')

    const reads = await waitFor(() => {
      const gets = spy.gets(keys.current)
      return gets.length >= 5 && gets
    }, 'five reads of the pointer')
    expect(reads[0]?.ifNoneMatch).toBeUndefined()
    for (const read of reads.slice(1)) expect(read.ifNoneMatch).toBe(malformed.etag)

    // The startup's work is still pending: once the bad pointer is gone, a poll writes the first one.
    await spy.storage.delete(keys.current)
    const written = await waitFor(() => readPointer(spy.storage), 'the first pointer')
    expect(written.pointer).toMatchObject({ baseRef: 'image-1', hot: null, setBy: 'machine:m1' })
  })
})
