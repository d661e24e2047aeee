/**
 * The behaviour every notifier adapter owes relup, run against a real server: notices reach the
 * subscribers of their pointer key and no one else, an outage is reported and never thrown, and
 * the adapter recovers by itself. The suite takes the test runner's functions (as the storage
 * conformance suite does) so it knows no runner.
 */
import type { Notifier, NotifierState, PointerNotice } from '@relup/core'
import { type MessageServer, type ServerKind, serverAvailability, startServer } from './servers.js'

interface SuiteApi {
  describe: { skipIf(condition: boolean): (name: string, body: () => void) => void }
  it: (name: string, body: () => Promise<void>, timeout?: number) => void
  beforeAll: (body: () => Promise<void>, timeout?: number) => void
  afterAll: (body: () => Promise<void>) => void
  afterEach: (body: () => Promise<void>) => void
  expect: (value: unknown) => {
    toBe(expected: unknown): void
    toEqual(expected: unknown): void
    toContain(expected: unknown): void
    toBeLessThan(expected: number): void
    rejects: { toMatchObject(expected: unknown): Promise<void> }
  }
}

export function notice(pointerKey: string, seq: number): PointerNotice {
  return {
    schema: 1,
    pointerKey,
    seq,
    upgradeId: `up-${seq}`,
    reason: 'publish',
    at: new Date().toISOString(),
  }
}

/** Resolves once `check` is true, polling every 10 ms; rejects with `what` after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export function notifierSuite(
  api: SuiteApi,
  kind: ServerKind,
  open: (url: string, options: { announceTimeout: number }) => Notifier,
): void {
  const { describe, it, beforeAll, afterAll, afterEach, expect } = api
  const availability = serverAvailability(kind)
  if (!availability.run) console.warn(`${kind} notifier tests skipped: ${availability.reason}`)

  describe.skipIf(!availability.run)(`${kind} notifier against a real ${kind} server`, () => {
    let server: MessageServer
    const opened: Notifier[] = []
    const notifier = () => {
      const made = open(server.url, { announceTimeout: 1000 })
      opened.push(made)
      return made
    }

    beforeAll(async () => {
      server = await startServer(kind)
    }, 20_000)
    afterAll(async () => {
      await server?.stop()
    })
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((made) => made.close()))
      if (!server.running) await server.restart()
    })

    it('delivers a notice to the subscribers of its pointer key and to no one else', async () => {
      const heard: PointerNotice[] = []
      const other: PointerNotice[] = []
      const states: NotifierState[] = []
      const subscriber = notifier()
      const mine = subscriber.subscribe('relup/chat/current.json', {
        onNotice: (n) => heard.push(n),
        onState: (s) => states.push(s),
      })
      subscriber.subscribe('relup/other/current.json', { onNotice: (n) => other.push(n) })
      await until(() => mine.state === 'connected', 5000, 'the subscription')
      const publisher = notifier()
      await publisher.announce(notice('relup/chat/current.json', 7))
      await until(() => heard.length === 1, 2000, 'the notice')
      expect(heard[0]?.seq).toBe(7)
      expect(heard[0]?.upgradeId).toBe('up-7')
      expect(other).toEqual([])
      expect(states).toEqual(['connected'])
    })

    it('reports an outage, rejects announces with a NotifierError, and recovers by itself', async () => {
      const heard: PointerNotice[] = []
      const states: NotifierState[] = []
      const subscriber = notifier()
      const sub = subscriber.subscribe('relup/chat/current.json', {
        onNotice: (n) => heard.push(n),
        onState: (s) => states.push(s),
      })
      await until(() => sub.state === 'connected', 5000, 'the subscription')
      const publisher = notifier()
      await publisher.announce(notice('relup/chat/current.json', 1))
      await until(() => heard.length === 1, 2000, 'the first notice')

      await server.kill()
      await until(() => sub.state === 'disconnected', 5000, 'the outage to be noticed')
      await expect(publisher.announce(notice('relup/chat/current.json', 2))).rejects.toMatchObject({
        code: 'ERR_RELUP_NOTIFIER',
      })

      await server.restart()
      const back = Date.now()
      await until(() => sub.state === 'connected', 5000, 'the reconnection')
      expect(Date.now() - back).toBeLessThan(2500)
      await until(
        () => {
          void publisher.announce(notice('relup/chat/current.json', 3)).catch(() => {})
          return heard.some((n) => n.seq === 3)
        },
        3000,
        'a notice after the restart',
      )
      expect(states.slice(0, 3)).toEqual(['connected', 'disconnected', 'connected'])
    }, 30_000)

    it('a subscriber started while the server is down connects once it is up', async () => {
      await server.kill()
      const heard: PointerNotice[] = []
      const subscriber = notifier()
      const sub = subscriber.subscribe('relup/chat/current.json', { onNotice: (n) => heard.push(n) })
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(sub.state).toBe('connecting')
      await server.restart()
      await until(() => sub.state === 'connected', 5000, 'the first connection')
      await notifier().announce(notice('relup/chat/current.json', 9))
      await until(() => heard.length === 1, 2000, 'the notice')
      expect(heard[0]?.seq).toBe(9)
    }, 20_000)

    it('close() ends the subscription: no more notices, state closed', async () => {
      const heard: PointerNotice[] = []
      const subscriber = notifier()
      const sub = subscriber.subscribe('relup/chat/current.json', { onNotice: (n) => heard.push(n) })
      await until(() => sub.state === 'connected', 5000, 'the subscription')
      await sub.close()
      expect(sub.state).toBe('closed')
      await notifier().announce(notice('relup/chat/current.json', 4))
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(heard).toEqual([])
    })
  })
}
