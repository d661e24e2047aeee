import { newHotUpgrade, type Storage, withHotUpgrade, writeDocument } from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it, onTestFinished } from 'vitest'
import { fakeFleet } from '../src/index.js'

const fleet = fakeFleet('chat', (cleanup) => onTestFinished(async () => void (await cleanup())))

/** A memory storage whose writes take `putMs`, counting the writes that start after `closed` is set. */
function slowStorage(putMs: number) {
  const inner = memoryStorage()
  const state = { closed: false, putsAfterClose: 0, putsStarted: 0 }
  const storage: Storage = {
    ...inner,
    async put(key, body, options) {
      state.putsStarted++
      if (state.closed) state.putsAfterClose++
      await new Promise((resolve) => setTimeout(resolve, putMs))
      return inner.put(key, body, options)
    },
  }
  return { storage, state }
}

describe('simulateMachines', () => {
  it('stopping waits for the write in flight and makes no write after, so the storage can close right away', async () => {
    const { storage, state } = slowStorage(40)
    await fleet.bootPointer(storage)
    const pointer = await fleet.pointerOf(storage)
    const stop = fleet.simulateMachines(storage, { a: 'complete', b: 'complete', c: 'complete' })
    const hot = newHotUpgrade({
      version: 'v2',
      sourceRef: 'git:abc',
      baseRef: 'image-1',
      artifact: { key: 'relup/chat/artifacts/v2-aaaaaaaaaaaa.tgz', sha256: 'a'.repeat(64), size: 10 },
      manifest: { files: {}, nativeAddons: [], nodeAbi: null },
      publishedBy: 'ci@runner',
    })
    await writeDocument(storage, fleet.keys.current, withHotUpgrade(pointer, hot, { setBy: 'test' }))
    const before = state.putsStarted
    while (state.putsStarted === before) await new Promise((resolve) => setTimeout(resolve, 5))

    await stop()
    state.closed = true
    await new Promise((resolve) => setTimeout(resolve, 150))

    expect(state.putsAfterClose).toBe(0)
    expect(state.putsStarted - before).toBeLessThan(6)
  })
})
