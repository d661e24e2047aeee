import { type CurrentPointer, initialPointer, type Storage, writeDocument } from '@relup/core'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { type PublishOutcome, publish, WriteLostError } from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  freshStorage,
  hotDir,
  keys,
  onCleanup,
  pointerOf,
  simulateMachines,
} from './helpers.js'
import { afterFirstPut, barrierOnPut, ignoringConditions } from './stores.js'

/** Two publishes whose lock writes reach the store together: on an honest store one is refused. */
async function concurrentPublishes(storage: Storage) {
  const barrier = barrierOnPut(2, keys.lock)
  const [a, b] = [await hotDir('va'), await hotDir('vb')]
  return Promise.allSettled([
    publish({ storage: barrier(storage), app: APP, dir: a, version: 'va', expect: 0 }),
    publish({ storage: barrier(storage), app: APP, dir: b, version: 'vb', expect: 0 }),
  ])
}

function expectOneWinnerTheOtherLoud(
  settled: PromiseSettledResult<PublishOutcome>[],
  pointer: CurrentPointer,
) {
  const won = settled.filter((s) => s.status === 'fulfilled') as PromiseFulfilledResult<PublishOutcome>[]
  const lost = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[]
  expect([won.length, lost.length]).toEqual([1, 1])
  // Whoever reports success is what the pointer says.
  expect(pointer.hot?.upgradeId).toBe(won[0]!.value.upgrade.upgradeId)
  expect(lost[0]!.reason).toBeInstanceOf(WriteLostError)
  expect((lost[0]!.reason as Error).message).toMatch(
    /deploy lock this publisher took at .* is no longer its own: .* ignores conditional writes \(If-None-Match \/ If-Match\).*run `relup doctor`.*Nothing was published/,
  )
}

describe('a store that ignores conditional writes', () => {
  it('two concurrent publishes: one succeeds, the other fails naming the store’s problem and relup doctor', async () => {
    const storage = ignoringConditions(freshStorage())
    await bootPointer(storage)
    const settled = await concurrentPublishes(storage)
    expectOneWinnerTheOtherLoud(settled, await pointerOf(storage))
  })

  it('on s3rver without conditional-write enforcement (plain s3rver ignores If-None-Match / If-Match)', async () => {
    const server = await startS3rver({ enforceConditionalWrites: false })
    onCleanup(() => server.stop())
    await server.createBucket('liar')
    const storage = s3Storage({ bucket: 'liar', env: s3rverEnv(server, 'liar') })
    onCleanup(async () => storage.close?.())
    await bootPointer(storage)
    const settled = await concurrentPublishes(storage)
    expectOneWinnerTheOtherLoud(settled, await pointerOf(storage))
  }, 30_000)

  const otherPointer = (): CurrentPointer => ({
    ...initialPointer(APP, 'image-1', { setBy: 'publisher:mallory@elsewhere' }),
    seq: 99,
  })

  it('a pointer overwritten right after this publisher moved it fails the publish before it waits', async () => {
    const inner = ignoringConditions(freshStorage())
    await bootPointer(inner)
    await announceMachine(inner, 'm1')
    simulateMachines(inner, { m1: 'complete' })
    const storage = afterFirstPut(inner, keys.current, () =>
      writeDocument(inner, keys.current, otherPointer()),
    )
    const started = Date.now()
    const error = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 20_000 }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(WriteLostError)
    expect((error as Error).message).toMatch(
      /the pointer now says base code on base image-1, set by publisher:mallory@elsewhere .*although .* accepted the compare-and-swap write.*ignores conditional writes \(If-Match\).*relup doctor.*Nothing was waited for/,
    )
    expect(Date.now() - started).toBeLessThan(5000)
    expect((await inner.get(keys.lock)).status).toBe('not-found')
  })

  it('a pointer overwritten while waiting fails the publish once the wait is over', async () => {
    const storage = ignoringConditions(freshStorage())
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    // Someone else writes the pointer while this publisher waits for m1.
    const reporter = {
      step: (message: string) => {
        if (message.startsWith('waiting for')) void writeDocument(storage, keys.current, otherPointer())
      },
    }
    const error = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      timeoutMs: 1000,
      reporter,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WriteLostError)
    expect((error as Error).message).toMatch(/the pointer now says .*The results above are not what is live/)
  })
})
