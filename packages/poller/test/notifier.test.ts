/**
 * The runtime with a notifier, against a real Redis (and one NATS run): a notice makes machines
 * read the pointer at once; the pointer stays the only authority, so lost, duplicated and
 * delayed notices change nothing but when it is read, and a notifier outage falls back to the
 * safety-net poll and recovers by itself.
 */
import { ConfigError, type CurrentPointer, pointerNotice, relupKeys } from '@relup/core'
import { natsNotifier } from '@relup/notifier-nats'
import { redisNotifier } from '@relup/notifier-redis'
import { memoryStorage } from '@relup/storage-memory'
import { type MessageServer, serverAvailability, startServer, until } from '@relup/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Relup } from '../src/index.js'
import { resolveOptions } from '../src/options.js'
import {
  APP,
  onCleanup,
  publishDirect,
  readPointer,
  spyStorage,
  startRuntime,
  stubEngine,
  tempDir,
  waitForApplied,
  writeRelease,
} from './helpers.js'

const pointerKey = relupKeys(APP).current
const redis = serverAvailability('redis')
const nats = serverAvailability('nats')
if (!redis.run) console.warn(`poller notifier tests skipped: ${redis.reason}`)
if (!nats.run) console.warn(`poller NATS notifier test skipped: ${nats.reason}`)

async function publishAndAnnounce(
  storage: ReturnType<typeof memoryStorage>,
  version: string,
  announce: ((pointer: CurrentPointer) => Promise<void>) | null,
) {
  const hot = await publishDirect(storage, await writeRelease(await tempDir('hot'), version), { version })
  const current = await readPointer(storage)
  if (announce && current) await announce(current.pointer)
  return hot
}

describe('notifier options', () => {
  const engine = stubEngine()
  const base = { app: APP, storage: memoryStorage(), engine }

  it('makes the poll a 60 s safety net and the heartbeat 10 min, unless set', () => {
    const resolved = resolveOptions({ ...base, notifier: 'redis://127.0.0.1:6379' })
    expect(resolved.pollInterval).toBe(60_000)
    expect(resolved.heartbeatInterval).toBe(600_000)
    expect(resolved.maxPollBackoff).toBe(60_000) // an outage never polls more often than the safety net
    expect(
      resolveOptions({ ...base, notifier: 'nats://127.0.0.1:4222', pollInterval: 5000 }).pollInterval,
    ).toBe(5000)
    expect(resolveOptions(base).pollInterval).toBe(1000)
  })

  it('reads RELUP_NOTIFY and refuses an unknown scheme at once', () => {
    process.env.RELUP_NOTIFY = 'nats://127.0.0.1:4222'
    try {
      expect(resolveOptions(base).notifier).toBe('nats://127.0.0.1:4222')
      process.env.RELUP_NOTIFY = 'kafka://127.0.0.1:9092'
      expect(() => resolveOptions(base)).toThrow(ConfigError)
      expect(() => resolveOptions(base)).toThrow(/redis:\/\/host:port/)
    } finally {
      delete process.env.RELUP_NOTIFY
    }
  })
})

describe.skipIf(!redis.run)('machines with a Redis notifier', () => {
  let server: MessageServer
  beforeAll(async () => {
    server = await startServer('redis')
  }, 20_000)
  afterAll(async () => {
    await server?.stop()
  })

  async function machines(storage: ReturnType<typeof memoryStorage>, count: number, pollInterval?: number) {
    const started = []
    for (let i = 0; i < count; i++) {
      const engine = stubEngine()
      const relup = await startRuntime(storage, {
        engine,
        machineId: `m${i}`,
        notifier: server.url, // the URL path: @relup/notifier-redis loaded by a dynamic import
        pollInterval,
      })
      const connected = new Promise<void>((resolve) =>
        relup.on('notifier:state', ({ state }) => state === 'connected' && resolve()),
      )
      started.push({ relup, engine, connected })
    }
    await Promise.all(started.map((m) => m.connected))
    return started
  }

  function publisherNotifier() {
    const notifier = redisNotifier({ url: server.url, announceTimeout: 1000 })
    onCleanup(() => notifier.close())
    return (pointer: CurrentPointer) => notifier.announce(pointerNotice(pointerKey, pointer, 'publish'))
  }

  it('a notice brings the upgrade within a second although the safety-net poll is 60 s away', async () => {
    const storage = memoryStorage()
    const [m] = await machines(storage, 1)
    expect((m?.relup.getState().nextPoll?.getTime() ?? 0) - Date.now()).toBeGreaterThan(30_000)
    const announce = publisherNotifier()
    const sent = Date.now()
    await publishAndAnnounce(storage, 'v2', announce)
    await waitForApplied(m!.relup, 'v2', 1000)
    expect(Date.now() - sent).toBeLessThan(1000)
  })

  it('a lost notice changes nothing: the safety-net poll applies the upgrade', async () => {
    const storage = memoryStorage()
    const [m] = await machines(storage, 1, 800)
    await publishAndAnnounce(storage, 'v2', null)
    expect(m?.relup.getState().lastUpgrade).toBe(null)
    await waitForApplied(m!.relup, 'v2', 3000)
  })

  it('duplicated and delayed notices cost pointer reads, never a second upgrade', async () => {
    const inner = memoryStorage()
    const spied = spyStorage(inner)
    const engine = stubEngine()
    const relup = await startRuntime(spied.storage, { engine, notifier: server.url })
    await new Promise<void>((resolve) => {
      relup.on('notifier:state', ({ state }) => state === 'connected' && resolve())
    })
    const announce = publisherNotifier()
    await publishAndAnnounce(inner, 'v2', null)
    const pointer = (await readPointer(inner))!.pointer
    // Five copies: each costs at most one conditional read (copies that arrive during a check share one after it).
    const readsBefore = spied.calls.filter((c) => c.op === 'get' && c.key === pointerKey).length
    await Promise.all([1, 2, 3, 4, 5].map(() => announce(pointer)))
    await waitForApplied(relup, 'v2', 1000)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const reads = spied.calls.filter((c) => c.op === 'get' && c.key === pointerKey).length - readsBefore
    expect(reads).toBeGreaterThanOrEqual(1)
    // At most one read per notice, plus the reads of the apply itself.
    expect(reads).toBeLessThanOrEqual(5 + 2)
    // The same notice again, long after: read, found unchanged, nothing applied.
    await announce(pointer)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(engine.calls).toHaveLength(1)
    expect(relup.getState().upgradeCount).toBe(1)
  })

  it('a notice that claims more than the pointer says is not believed', async () => {
    const storage = memoryStorage()
    const [m] = await machines(storage, 1)
    const announce = publisherNotifier()
    const pointer = (await readPointer(storage))!.pointer
    // A notice for seq 99 and an upgrade that was never published: the machine reads the pointer and finds nothing to do.
    await announce({ ...pointer, seq: 99 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(m!.engine.calls).toHaveLength(0)
    expect(m!.relup.getState().pointerSeq).toBe(pointer.seq)
  })

  it('Redis killed while machines run: upgrades land by the safety-net poll, and within a second once it is back', async () => {
    const storage = memoryStorage()
    const fleet = await machines(storage, 3, 1500)
    const states: string[][] = fleet.map(() => [])
    for (const [i, m] of fleet.entries()) m.relup.on('notifier:state', ({ state }) => states[i]?.push(state))
    const announce = publisherNotifier()

    await server.kill()
    await until(
      () => states.every((s) => s.includes('disconnected')),
      5000,
      'the machines to notice the outage',
    )
    await publishAndAnnounce(storage, 'v2', (p) => announce(p).catch(() => {})) // the announce fails: a warning
    await Promise.all(fleet.map((m) => waitForApplied(m.relup, 'v2', 4000)))

    await server.restart()
    const back = Date.now()
    await until(() => states.every((s) => s.at(-1) === 'connected'), 5000, 'the machines to reconnect')
    expect(Date.now() - back).toBeLessThan(1500) // reconnect attempts back off to at most a second
    const sent = Date.now()
    await publishAndAnnounce(storage, 'v3', announce)
    await Promise.all(fleet.map((m) => waitForApplied(m.relup, 'v3', 1000)))
    expect(Date.now() - sent).toBeLessThan(1000)
  }, 30_000)

  it('stop() closes the subscription it opened: the test process is left with no connection', async () => {
    const storage = memoryStorage()
    const [m] = await machines(storage, 1)
    await m!.relup.stop()
    expect(m!.relup.getState().mode).toBe('stopped')
  })
})

describe.skipIf(!nats.run)('machines with a NATS notifier', () => {
  it('a notice over NATS brings the upgrade within a second', async () => {
    const server = await startServer('nats')
    onCleanup(() => server.stop())
    const storage = memoryStorage()
    const notifier = natsNotifier({ url: server.url })
    onCleanup(() => notifier.close())
    const engine = stubEngine()
    const relup = await startRuntime(storage, { engine, notifier })
    await new Promise<void>((resolve) =>
      relup.on('notifier:state', ({ state }) => state === 'connected' && resolve()),
    )
    const sent = Date.now()
    await publishAndAnnounce(storage, 'v2', (p) => notifier.announce(pointerNotice(pointerKey, p, 'publish')))
    await waitForApplied(relup, 'v2', 1000)
    expect(Date.now() - sent).toBeLessThan(1000)
  })

  it('NATS killed while machines run: upgrades land by the safety-net poll, and within a second once it is back', async () => {
    const server = await startServer('nats')
    onCleanup(() => server.stop())
    const storage = memoryStorage()
    const fleet: { relup: Relup; states: string[] }[] = []
    for (const id of ['n1', 'n2', 'n3']) {
      const relup = await startRuntime(storage, {
        engine: stubEngine(),
        machineId: id,
        notifier: server.url, // @relup/notifier-nats loaded by the URL
        pollInterval: 1500,
      })
      const states: string[] = []
      relup.on('notifier:state', ({ state }) => states.push(state))
      fleet.push({ relup, states })
    }
    await until(() => fleet.every((m) => m.states.at(-1) === 'connected'), 5000, 'the subscriptions')
    const notifier = natsNotifier({ url: server.url, announceTimeout: 1000 })
    onCleanup(() => notifier.close())
    const announce = (p: CurrentPointer) => notifier.announce(pointerNotice(pointerKey, p, 'publish'))

    await server.kill()
    await until(() => fleet.every((m) => m.states.includes('disconnected')), 5000, 'the outage to be noticed')
    await publishAndAnnounce(storage, 'v2', (p) => announce(p).catch(() => {}))
    await Promise.all(fleet.map((m) => waitForApplied(m.relup, 'v2', 4000)))

    await server.restart()
    const back = Date.now()
    await until(() => fleet.every((m) => m.states.at(-1) === 'connected'), 5000, 'the reconnections')
    expect(Date.now() - back).toBeLessThan(1500)
    const sent = Date.now()
    await publishAndAnnounce(storage, 'v3', announce)
    await Promise.all(fleet.map((m) => waitForApplied(m.relup, 'v3', 1000)))
    expect(Date.now() - sent).toBeLessThan(1000)
  }, 30_000)
})
