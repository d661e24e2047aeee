import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  ConfigError,
  canonicalJson,
  fingerprint,
  newUpgradeId,
  relupKeys,
  signingPayload,
  upgradeIdFromRef,
} from '../src/index.js'
import { hotUpgrade } from './fixtures.js'

describe('fingerprint', () => {
  it('is the first 12 hex characters of sha256("<base>:<hot or base>")', () => {
    const expected = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12)
    expect(fingerprint('image-1', 'git:abc')).toBe(expected('image-1:git:abc'))
    expect(fingerprint('image-1', null)).toBe(expected('image-1:base'))
    expect(fingerprint('image-1', undefined)).toBe(fingerprint('image-1', null))
    expect(fingerprint('image-1', 'git:abc')).toMatch(/^[0-9a-f]{12}$/)
    expect(fingerprint('image-1', 'git:abc')).not.toBe(fingerprint('image-2', 'git:abc'))
  })
})

describe('upgrade ids', () => {
  it('takes the ULID out of a Fly deployment image ref', () => {
    expect(upgradeIdFromRef('registry.fly.io/chat:deployment-01KABCDEFGHJKMNPQRSTVWXYZ0')).toBe(
      '01KABCDEFGHJKMNPQRSTVWXYZ0',
    )
  })

  it('falls back to the first 16 hex characters of the sha256 of the ref', () => {
    expect(upgradeIdFromRef('git:abc123')).toBe(
      createHash('sha256').update('git:abc123').digest('hex').slice(0, 16),
    )
  })

  it('new ids are 26-character ULIDs that sort by time', () => {
    const a = newUpgradeId(1_700_000_000_000)
    const b = newUpgradeId(1_700_000_000_001)
    expect(a).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(a < b).toBe(true)
    expect(newUpgradeId()).not.toBe(newUpgradeId())
    expect(newUpgradeId(0, new Uint8Array(10))).toBe('0'.repeat(26))
  })
})

describe('key layout', () => {
  it('puts everything of an app under relup/<app>/ by default', () => {
    const keys = relupKeys('chat')
    expect(keys.current).toBe('relup/chat/current.json')
    expect(keys.lock).toBe('relup/chat/lock.json')
    expect(keys.artifact('v1.4.2', 'abcdef0123456789'.repeat(4))).toBe(
      'relup/chat/artifacts/v1.4.2-abcdef012345.tgz',
    )
    expect(keys.result('U1', 'm-1')).toBe('relup/chat/results/U1/m-1.json')
    expect(keys.results('U1')).toBe('relup/chat/results/U1/')
    expect(keys.machine('m-1')).toBe('relup/chat/machines/m-1.json')
    expect(keys.history('U1')).toBe('relup/chat/history/U1.json')
  })

  it('takes a custom prefix (with or without the trailing slash)', () => {
    expect(relupKeys('chat', { prefix: 'prod/apps' }).current).toBe('prod/apps/current.json')
    expect(relupKeys('chat', { prefix: '' }).current).toBe('current.json')
  })

  it('refuses names that could escape or break a key', () => {
    expect(() => relupKeys('Chat App')).toThrow(ConfigError)
    expect(() => relupKeys('chat', { prefix: '../other' })).toThrow(/must be relative/)
    expect(() => relupKeys('chat').machine('../x')).toThrow(/machineId/)
    expect(() => relupKeys('chat').artifact('v1/../../x', 'a'.repeat(64))).toThrow(/version/)
  })
})

describe('canonical JSON and the signing payload', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
    )
  })

  it('the payload ignores the signature and key order, but not any other field', () => {
    const hot = hotUpgrade()
    const reordered = Object.fromEntries(Object.entries(hot).reverse()) as typeof hot
    const signed = { ...hot, signature: { alg: 'ed25519' as const, keyId: 'k', value: 'sig' } }
    const decode = (b: Uint8Array) => new TextDecoder().decode(b)
    expect(decode(signingPayload(reordered))).toBe(decode(signingPayload(hot)))
    expect(decode(signingPayload(signed))).toBe(decode(signingPayload(hot)))
    expect(decode(signingPayload({ ...hot, version: 'v3' }))).not.toBe(decode(signingPayload(hot)))
    expect(decode(signingPayload(hot)).startsWith('relup-hot-upgrade-v1\n')).toBe(true)
  })
})
