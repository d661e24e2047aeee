import { describe, expect, it } from 'vitest'
import {
  type ColdPointer,
  cohortOf,
  coldBaseRef,
  coldKey,
  coldReleaseFor,
  coldSigningPayload,
  DocumentError,
  parseColdPointer,
  pointerNotice,
  type Rollout,
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

describe('a staged rollout in the cold pointer', () => {
  const candidateRelease = { ...release, releaseId: '01M8SQ3JGF12F2NQE9T60APKJB', version: '3.0.0' }
  const rollout: Rollout = {
    plan: [{ machines: 1 }, { percent: 100 }],
    wave: 0,
    threshold: 0.5,
    state: 'rolling',
    healthWindowMs: 15_000,
    maxFailures: 0,
    startedAt: '2026-12-01T20:00:00.000Z',
    waveStartedAt: '2026-12-01T20:00:00.000Z',
  }
  const rolling: ColdPointer = { ...pointer, candidate: { release: candidateRelease, rollout } }
  // Machines on either side of the threshold for this candidate.
  const ids = Array.from({ length: 40 }, (_, i) => `m${i}`)
  const inside = ids.find((id) => cohortOf(id, candidateRelease.releaseId) < 0.5)!
  const outside = ids.find((id) => cohortOf(id, candidateRelease.releaseId) >= 0.5)!

  it('parses, and refuses a malformed candidate naming its field', () => {
    expect(parseColdPointer(JSON.parse(JSON.stringify(rolling)))).toEqual(rolling)
    const bad = { ...rolling, candidate: { release: candidateRelease, rollout: { ...rollout, wave: -1 } } }
    expect(() => parseColdPointer(bad)).toThrow(/candidate\.rollout\.wave/)
  })

  it('a machine in the wave runs the candidate, one outside it the stable release', () => {
    expect(coldReleaseFor(rolling, inside)).toEqual({
      release: candidateRelease,
      candidate: rolling.candidate,
    })
    expect(coldReleaseFor(rolling, outside)).toEqual({ release, candidate: null })
    expect(coldReleaseFor(pointer, inside)).toEqual({ release, candidate: null })
  })

  it('a candidate marked bad runs nowhere', () => {
    const halted = { ...rolling, badReleases: [candidateRelease.releaseId] }
    expect(coldReleaseFor(halted, inside)).toEqual({ release, candidate: null })
  })

  it('a notice of a cold pointer names its candidate, else its release', () => {
    const key = coldKey(relupKeys('shop'))
    expect(pointerNotice(key, rolling, 'rollout')).toMatchObject({
      pointerKey: key,
      seq: 2,
      upgradeId: candidateRelease.releaseId,
    })
    expect(pointerNotice(key, pointer, 'publish').upgradeId).toBe(release.releaseId)
    expect(pointerNotice(key, { ...pointer, release: null }, 'rollback').upgradeId).toBeNull()
  })
})
