import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type HotUpgrade, isRelupError, parseHotUpgrade } from '@relup/core'
import { describe, expect, it } from 'vitest'
import {
  generateSigningKeyPair,
  keyIdOf,
  loadKey,
  SignatureError,
  signHotUpgrade,
  verifyHotUpgrade,
} from '../src/index.js'
import { hotUpgrade, tempDir } from './helpers.js'

const alice = generateSigningKeyPair()
const bob = generateSigningKeyPair()

function signatureError(run: () => unknown): SignatureError {
  let caught: unknown
  try {
    run()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(SignatureError)
  expect(isRelupError(caught, 'ERR_RELUP_SIGNATURE')).toBe(true)
  return caught as SignatureError
}

describe('generateSigningKeyPair and keyIdOf', () => {
  it('makes an Ed25519 key pair in PEM, with the key id of its public key', () => {
    expect(alice.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(alice.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/)
    expect(createPublicKey(alice.publicKey).asymmetricKeyType).toBe('ed25519')
    expect(alice.keyId).toMatch(/^[0-9a-f]{16}$/)
    expect(alice.keyId).toBe(keyIdOf(alice.publicKey))
    expect(alice.keyId).not.toBe(bob.keyId)
  })

  it('gives the same id for a key whatever its form (PEM, KeyObject, private half)', () => {
    expect(keyIdOf(createPublicKey(alice.publicKey))).toBe(alice.keyId)
    expect(keyIdOf(alice.privateKey)).toBe(alice.keyId)
    expect(keyIdOf(createPrivateKey(alice.privateKey))).toBe(alice.keyId)
  })
})

describe('signHotUpgrade and verifyHotUpgrade', () => {
  it('a signed upgrade verifies and returns the key id used', () => {
    const signed = signHotUpgrade(hotUpgrade(), alice.privateKey)
    expect(signed.signature).toEqual({
      alg: 'ed25519',
      keyId: alice.keyId,
      value: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/),
    })
    expect(Buffer.from(signed.signature!.value, 'base64')).toHaveLength(64)
    expect(verifyHotUpgrade(signed, [alice.publicKey])).toBe(alice.keyId)
  })

  it('still verifies after a JSON round trip through storage, in any field order', () => {
    const signed = signHotUpgrade(hotUpgrade(), alice.privateKey)
    const stored = parseHotUpgrade(JSON.stringify(signed, null, 2))
    const reordered = Object.fromEntries(Object.entries(stored).reverse()) as unknown as HotUpgrade
    expect(verifyHotUpgrade(reordered, [alice.publicKey])).toBe(alice.keyId)
  })

  it.each<[string, (hot: HotUpgrade) => HotUpgrade]>([
    ['artifact.sha256', (hot) => ({ ...hot, artifact: { ...hot.artifact, sha256: 'f'.repeat(64) } })],
    ['artifact.size', (hot) => ({ ...hot, artifact: { ...hot.artifact, size: hot.artifact.size + 1 } })],
    ['version', (hot) => ({ ...hot, version: 'v3' })],
    ['baseRef', (hot) => ({ ...hot, baseRef: 'image-2' })],
    [
      'a manifest file hash',
      (hot) => ({
        ...hot,
        manifest: {
          ...hot.manifest,
          files: { ...hot.manifest.files, 'index.js': { sha256: 'e'.repeat(64), size: 10 } },
        },
      }),
    ],
    ['an added field', (hot) => ({ ...hot, extra: 'smuggled' }) as HotUpgrade],
  ])('a changed %s makes the signature invalid', (_field, tamper) => {
    const signed = signHotUpgrade(hotUpgrade(), alice.privateKey)
    const error = signatureError(() => verifyHotUpgrade(tamper(signed), [alice.publicKey]))
    expect(error.reason).toBe('invalid')
    expect(error.keyId).toBe(alice.keyId)
    expect(error.message).toContain('the upgrade was not applied')
  })

  it('a corrupt signature value is invalid', () => {
    const signed = signHotUpgrade(hotUpgrade(), alice.privateKey)
    const other = signHotUpgrade(hotUpgrade({ version: 'v9' }), alice.privateKey)
    for (const value of ['not base64!', 'AAAA', other.signature!.value]) {
      const error = signatureError(() =>
        verifyHotUpgrade({ ...signed, signature: { ...signed.signature!, value } }, [alice.publicKey]),
      )
      expect(error.reason).toBe('invalid')
    }
  })

  it('another algorithm is invalid', () => {
    const signed = signHotUpgrade(hotUpgrade(), alice.privateKey)
    const relabelled = { ...signed, signature: { ...signed.signature!, alg: 'rsa' as 'ed25519' } }
    expect(signatureError(() => verifyHotUpgrade(relabelled, [alice.publicKey])).reason).toBe('invalid')
  })

  it('an unsigned upgrade is missing its signature', () => {
    const error = signatureError(() => verifyHotUpgrade(hotUpgrade(), [alice.publicKey]))
    expect(error.reason).toBe('missing')
    expect(error.keyId).toBeNull()
    expect(error.message).toMatch(/not signed/)
  })

  it('an upgrade signed by a key that is not trusted is unknown-key', () => {
    const signed = signHotUpgrade(hotUpgrade(), bob.privateKey)
    const error = signatureError(() => verifyHotUpgrade(signed, [alice.publicKey]))
    expect(error.reason).toBe('unknown-key')
    expect(error.keyId).toBe(bob.keyId)
    expect(error.message).toContain(bob.keyId)
    expect(error.message).toContain(alice.keyId)
  })

  it('a signature claiming a trusted key id but made with another key is invalid', () => {
    const signed = signHotUpgrade(hotUpgrade(), bob.privateKey)
    const impostor = { ...signed, signature: { ...signed.signature!, keyId: alice.keyId } }
    expect(signatureError(() => verifyHotUpgrade(impostor, [alice.publicKey])).reason).toBe('invalid')
  })

  it('with two trusted keys (rotation), upgrades signed by either verify', () => {
    const trusted = [alice.publicKey, bob.publicKey]
    expect(verifyHotUpgrade(signHotUpgrade(hotUpgrade(), alice.privateKey), trusted)).toBe(alice.keyId)
    expect(verifyHotUpgrade(signHotUpgrade(hotUpgrade(), bob.privateKey), trusted)).toBe(bob.keyId)
    const carol = generateSigningKeyPair()
    expect(
      signatureError(() => verifyHotUpgrade(signHotUpgrade(hotUpgrade(), carol.privateKey), trusted)).reason,
    ).toBe('unknown-key')
  })

  it('accepts KeyObjects as well as PEM strings', () => {
    const signed = signHotUpgrade(hotUpgrade(), createPrivateKey(alice.privateKey))
    expect(verifyHotUpgrade(signed, [createPublicKey(alice.publicKey)])).toBe(alice.keyId)
  })

  it('replaces an existing signature when signing again', () => {
    const signed = signHotUpgrade(signHotUpgrade(hotUpgrade(), alice.privateKey), bob.privateKey)
    expect(signed.signature?.keyId).toBe(bob.keyId)
    expect(verifyHotUpgrade(signed, [bob.publicKey])).toBe(bob.keyId)
  })

  it('refuses configuration mistakes with ConfigError', () => {
    const signed = signHotUpgrade(hotUpgrade(), alice.privateKey)
    expect(() => verifyHotUpgrade(signed, [])).toThrow(expect.objectContaining({ code: 'ERR_RELUP_CONFIG' }))
    expect(() => verifyHotUpgrade(signed, ['not a key'])).toThrow(
      expect.objectContaining({ code: 'ERR_RELUP_CONFIG' }),
    )
    expect(() => signHotUpgrade(hotUpgrade(), alice.publicKey)).toThrow(/private key/)
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
    expect(() => signHotUpgrade(hotUpgrade(), rsa.privateKey)).toThrow(/Ed25519/)
    expect(() => verifyHotUpgrade(signed, [rsa.publicKey])).toThrow(/Ed25519/)
  })
})

describe('loadKey', () => {
  it('reads a key from PEM text or from a file', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'signing.pem'), alice.privateKey)
    await writeFile(join(dir, 'trusted.pem'), alice.publicKey)
    const privateKey = await loadKey(join(dir, 'signing.pem'))
    const publicKey = await loadKey(join(dir, 'trusted.pem'))
    expect(privateKey.type).toBe('private')
    expect(publicKey.type).toBe('public')
    expect((await loadKey(alice.publicKey)).type).toBe('public')
    const signed = signHotUpgrade(hotUpgrade(), privateKey)
    expect(verifyHotUpgrade(signed, [publicKey])).toBe(alice.keyId)
  })

  it('says which file could not be read or parsed', async () => {
    const dir = await tempDir()
    await expect(loadKey(join(dir, 'missing.pem'))).rejects.toThrow(/missing\.pem/)
    await writeFile(join(dir, 'garbage.pem'), 'hello')
    await expect(loadKey(join(dir, 'garbage.pem'))).rejects.toMatchObject({ code: 'ERR_RELUP_CONFIG' })
  })
})
