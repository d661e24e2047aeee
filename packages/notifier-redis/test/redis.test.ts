import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { NotifierError } from '@relup/core'
import {
  type MessageServer,
  notice,
  notifierSuite,
  serverAvailability,
  startServer,
  until,
} from '@relup/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { notifierFromUrl, redisNotifier } from '../src/index.js'
import { publishOnce } from '../src/publishOnce.js'

const run = promisify(execFile)

notifierSuite({ describe, it, beforeAll, afterAll, afterEach, expect }, 'redis', (url, { announceTimeout }) =>
  redisNotifier({ url, announceTimeout }),
)

describe('notifierFromUrl', () => {
  it('opens a Redis notifier named by its URL without the password', async () => {
    const notifier = notifierFromUrl('redis://relup:secret@127.0.0.1:1/0')
    expect(notifier.name).toBe('redis://relup:***@127.0.0.1:1/0')
    await notifier.close()
  })
})

const redis = serverAvailability('redis')

describe.skipIf(!redis.run)('announcing, against a real Redis', () => {
  let server: MessageServer
  beforeAll(async () => {
    server = await startServer('redis')
  }, 20_000)
  afterAll(async () => {
    await server?.stop()
  })

  it('an announce is one PUBLISH that reaches every subscriber of the channel', async () => {
    const listener = redisNotifier({ url: server.url })
    const heard: string[] = []
    const sub = listener.subscribe('relup/a/current.json', { onNotice: (n) => heard.push(n.pointerKey) })
    try {
      await until(() => sub.state === 'connected', 5000, 'the subscription')
      expect(await publishOnce(server.url, 'relup:notify:relup/a/current.json', 'not a notice', 2000)).toBe(1)
      await redisNotifier({ url: server.url }).announce(notice('relup/a/current.json', 7))
      await until(() => heard.length === 1, 2000, 'the notice')
      expect(heard).toEqual(['relup/a/current.json']) // the stray message was ignored, the notice heard
    } finally {
      await listener.close()
    }
  })

  it('an error reply from Redis rejects the announce with what Redis said', async () => {
    // This server has no password: AUTH is refused, and the PUBLISH after it is never reported as sent.
    const url = server.url.replace('redis://', 'redis://relup:wrong@')
    const announcing = redisNotifier({ url }).announce(notice('relup/a/current.json', 1))
    await expect(announcing).rejects.toThrow(NotifierError)
    await expect(announcing).rejects.toThrow(/could not announce .*\(WRONGPASS /)
  })

  it('announcing does not load ioredis (a publisher process starts faster); subscribing does', async () => {
    const script = `
      import { createRequire } from 'node:module'
      import { redisNotifier } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/ioredis/'))
      const notifier = redisNotifier({ url: process.argv[1] })
      await notifier.announce({ schema: 1, pointerKey: 'relup/a/current.json', seq: 1, upgradeId: null, reason: 'publish', at: new Date().toISOString() })
      const afterAnnounce = loaded()
      notifier.subscribe('relup/a/current.json', { onNotice() {} })
      console.log(JSON.stringify({ afterAnnounce, afterSubscribe: loaded() }))
      await notifier.close()
    `
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, server.url])
    expect(JSON.parse(stdout)).toEqual({ afterAnnounce: false, afterSubscribe: true })
  })
})
