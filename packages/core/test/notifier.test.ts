import { describe, expect, it } from 'vitest'
import {
  ConfigError,
  encodeNotice,
  initialPointer,
  NotifierAdapterMissingError,
  notifierPackageFor,
  openNotifier,
  parseNotice,
  pointerNotice,
  redactUrl,
} from '../src/index.js'

describe('notices', () => {
  it('say which pointer moved, to which seq and upgrade, and survive the wire', () => {
    const pointer = initialPointer('chat', 'image-1', { setBy: 'test' })
    const notice = pointerNotice(
      'relup/chat/current.json',
      pointer,
      'publish',
      new Date('2026-12-01T00:00:00Z'),
    )
    expect(notice).toEqual({
      schema: 1,
      pointerKey: 'relup/chat/current.json',
      seq: pointer.seq,
      upgradeId: null,
      reason: 'publish',
      at: '2026-12-01T00:00:00.000Z',
    })
    expect(parseNotice(encodeNotice(notice))).toEqual(notice)
    expect(parseNotice(new TextEncoder().encode(encodeNotice(notice)))).toEqual(notice)
  })

  it('anything else on the channel is not a notice', () => {
    expect(parseNotice('hello')).toBe(null)
    expect(parseNotice('{"schema":2}')).toBe(null)
    expect(
      parseNotice(
        JSON.stringify({ schema: 1, pointerKey: 'k', seq: -1, upgradeId: null, reason: 'x', at: 'now' }),
      ),
    ).toBe(null)
  })
})

describe('notifier URLs', () => {
  it('name the adapter package their scheme needs', () => {
    expect(notifierPackageFor('redis://127.0.0.1:6379').packageName).toBe('@relup/notifier-redis')
    expect(notifierPackageFor('rediss://cache:6380').packageName).toBe('@relup/notifier-redis')
    expect(notifierPackageFor('nats://127.0.0.1:4222').packageName).toBe('@relup/notifier-nats')
    expect(() => notifierPackageFor('kafka://broker:9092')).toThrow(ConfigError)
  })

  it('a missing adapter package says what to install', async () => {
    const error = await openNotifier(
      'nats://127.0.0.1:4222',
      (name) => import(`${name}-not-installed`),
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NotifierAdapterMissingError)
    expect((error as Error).message).toContain('npm install @relup/notifier-nats')
  })

  it('never show a password', () => {
    expect(redactUrl('redis://user:hunter2@cache:6379/0')).toBe('redis://user:***@cache:6379/0')
    expect(redactUrl('nats://cache:4222')).toBe('nats://cache:4222')
  })
})
