/**
 * `--notify` / `RELUP_NOTIFY`: publish, rollback and repair ring the notifier once the pointer
 * moved (a real Redis here); an unreachable notifier is a warning and the command still succeeds.
 */

import type { PointerNotice } from '@relup/core'
import { redisNotifier } from '@relup/notifier-redis'
import { openStorage } from '@relup/publisher'
import { freePort, type MessageServer, serverAvailability, startServer, until } from '@relup/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bootPointer, cli, freshMemoryUrl, hotDir, keys, onCleanup, pointerOf } from './helpers.js'

const redis = serverAvailability('redis')
if (!redis.run) console.warn(`cli --notify tests skipped: ${redis.reason}`)

describe.skipIf(!redis.run)('relup publish/rollback --notify against a real Redis', () => {
  let server: MessageServer
  beforeAll(async () => {
    server = await startServer('redis')
  }, 20_000)
  afterAll(async () => {
    await server?.stop()
  })

  async function listen(): Promise<PointerNotice[]> {
    const heard: PointerNotice[] = []
    const notifier = redisNotifier({ url: server.url })
    onCleanup(() => notifier.close())
    const sub = notifier.subscribe(keys.current, { onNotice: (n) => heard.push(n) })
    await until(() => sub.state === 'connected', 5000, 'the subscription')
    return heard
  }

  it('publish announces the pointer it wrote, after writing it', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const heard = await listen()
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--no-wait',
      '--notify',
      server.url,
    ])
    expect(result.code).toBe(0)
    await until(() => heard.length === 1, 2000, 'the notice')
    const pointer = await pointerOf(storage)
    expect(heard[0]).toMatchObject({
      pointerKey: keys.current,
      seq: pointer.seq,
      upgradeId: pointer.hot?.upgradeId,
      reason: 'publish',
    })
  })

  it('rollback announces too, with the notifier from RELUP_NOTIFY', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const env = { RELUP_NOTIFY: server.url }
    expect(
      (await cli(['publish', await hotDir('v2'), '--app', 'chat', '--storage', url, '--no-wait'], env)).code,
    ).toBe(0)
    const heard = await listen()
    expect(
      (await cli(['publish', await hotDir('v3'), '--app', 'chat', '--storage', url, '--no-wait'], env)).code,
    ).toBe(0)
    const back = await cli(['rollback', '--app', 'chat', '--storage', url, '--no-wait'], env)
    expect(back.code).toBe(0)
    await until(() => heard.length === 2, 2000, 'both notices')
    const pointer = await pointerOf(storage)
    expect(heard.map((n) => n.reason)).toEqual(['publish', 'rollback'])
    expect(heard[1]).toMatchObject({ seq: pointer.seq, upgradeId: pointer.hot?.upgradeId })
  })

  it('an unreachable notifier is a warning: the pointer moved and the publish exits 0', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const before = await pointerOf(storage)
    const dead = `redis://127.0.0.1:${await freePort()}`
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--no-wait',
      '--notify',
      dead,
    ])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/was not told .*safety-net poll/)
    const after = await pointerOf(storage)
    expect(after.seq).toBe(before.seq + 1)
    expect(after.hot).not.toBe(null)
  })

  it('an unknown notifier scheme is a configuration error (exit 2) before anything is written', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const before = await pointerOf(storage)
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--notify',
      'kafka://b:9092',
    ])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/unknown notifier URL/)
    expect((await pointerOf(storage)).seq).toBe(before.seq)
  })
})
