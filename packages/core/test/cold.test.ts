import { describe, expect, it } from 'vitest'
import {
  type ColdPointer,
  coldBaseRef,
  coldKey,
  coldSigningPayload,
  DocumentError,
  parseColdPointer,
  relupKeys,
} from '../src/index.js'

const release = {
  releaseId: '01M8SQ3JGF12F2NQE9T60APKJA',
  version: '2.0.0',
  artifact: { key: 'relup/shop/artifacts/cold-2.0.0-0123456789ab.tgz', sha256: 'a'.repeat(64), size: 1234 },
  command: ['node', 'server.js'],
  publishedAt: '2026-12-01T20:00:00.000Z',
  reason: 'asked for with --cold',
}
const pointer: ColdPointer = {
  schema: 1,
  seq: 2,
  release,
  previous: [],
  updatedAt: '2026-12-01T20:00:00.000Z',
}

describe('the cold pointer', () => {
  it('lives beside the hot pointer, and a cold release boots with a base of its own', () => {
    expect(coldKey(relupKeys('shop'))).toBe('relup/shop/cold.json')
    expect(coldBaseRef(release.releaseId)).toBe(`cold-${release.releaseId}`)
  })

  it('round-trips, keeping fields a newer publisher adds', () => {
    const newer = { ...pointer, rollout: { wave: 1 } }
    expect(parseColdPointer(JSON.stringify(newer))).toEqual(newer)
  })

  it('names the field that is wrong', () => {
    const bad = { ...pointer, release: { ...release, artifact: { ...release.artifact, sha256: 'nope' } } }
    expect(() => parseColdPointer(bad, 'relup/shop/cold.json')).toThrow(DocumentError)
    expect(() => parseColdPointer(bad, 'relup/shop/cold.json')).toThrow(/release\.artifact\.sha256/)
    expect(() => parseColdPointer({ ...pointer, release: { ...release, command: [] } })).toThrow(
      /field "release\.command" must name the program to run/,
    )
  })

  it('a signature over a release covers everything but itself, whatever the order of the fields', () => {
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
    const reordered = Object.fromEntries(Object.entries(release).reverse()) as typeof release
    const signature = { alg: 'ed25519' as const, keyId: '0123456789abcdef', value: 'c2ln' }
    expect(text(coldSigningPayload(reordered))).toBe(text(coldSigningPayload(release)))
    expect(text(coldSigningPayload({ ...release, signature }))).toBe(text(coldSigningPayload(release)))
    expect(text(coldSigningPayload(release))).toMatch(/^relup-cold-release-v1\n\{"artifact":/)
    expect(text(coldSigningPayload({ ...release, command: ['node', 'other.js'] }))).not.toBe(
      text(coldSigningPayload(release)),
    )
    // Old releases (no publishedBy, no signature) still parse; a malformed signature is named.
    const signed = { ...pointer, release: { ...release, publishedBy: 'ci', signature } }
    expect(parseColdPointer(signed)).toEqual(signed)
    expect(() =>
      parseColdPointer({ ...pointer, release: { ...release, signature: { ...signature, alg: 'rsa' } } }),
    ).toThrow(/release\.signature\.alg/)
  })
})
