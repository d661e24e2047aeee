import { describe, expect, it } from 'vitest'
import {
  type ColdPointer,
  coldBaseRef,
  coldKey,
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
})
