/**
 * Ed25519 signatures over hot upgrades. The signature covers `signingPayload(hot)`: the whole
 * hot-upgrade document except the signature, including the artifact's sha256, so a verified
 * upgrade pins the exact bytes the machine will extract. Machines trust a list of public keys
 * (several, for rotation) and look the signing key up by its `keyId`.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ConfigError, type HotUpgrade, signingPayload, type UpgradeSignature } from '@relup/core'
import { SignatureError } from './errors.js'

/** A PEM string (PKCS#8 private key or SPKI public key) or a node:crypto `KeyObject`. */
export type KeyInput = string | KeyObject

export interface SigningKeyPair {
  /** PKCS#8 PEM: keep it secret (the publisher's CI secret store). */
  privateKey: string
  /** SPKI PEM: give it to every machine as a trusted key. */
  publicKey: string
  keyId: string
}

const ED25519_SIGNATURE_BYTES = 64

export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) }
}

/**
 * A short stable id for a key: the first 16 hex characters of the sha256 of its DER SPKI
 * encoding. A private key gives the id of its public key.
 */
export function keyIdOf(key: KeyInput): string {
  const spki = publicKeyOf(key, 'key').export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(spki).digest('hex').slice(0, 16)
}

/** The hot upgrade with its `signature` set (any previous signature is replaced). */
export function signHotUpgrade(hot: HotUpgrade, privateKey: KeyInput): HotUpgrade {
  return { ...hot, signature: signPayload(signingPayload(hot), privateKey) }
}

/**
 * Check that `hot` is signed by one of `trustedKeys` and unchanged since. Returns the keyId that
 * verified it; throws `SignatureError` with `reason` 'missing' (unsigned), 'unknown-key' (signed
 * by a key not in the list) or 'invalid' (tampered, or not a valid signature).
 */
export function verifyHotUpgrade(hot: HotUpgrade, trustedKeys: readonly KeyInput[]): string {
  return verifyPayload(signingPayload(hot), hot.signature, trustedKeys, {
    what: `hot upgrade ${JSON.stringify(hot.version)}`,
    caller: 'verifyHotUpgrade',
    refused: 'the upgrade was not applied',
    accepts: 'upgrades',
  })
}

/** An Ed25519 signature of `payload` by `privateKey`. */
export function signPayload(payload: Uint8Array, privateKey: KeyInput): UpgradeSignature {
  const key = privateKeyOf(privateKey)
  return { alg: 'ed25519', keyId: keyIdOf(key), value: sign(null, payload, key).toString('base64') }
}

/** How a signed document is named in the errors of `verifyPayload`. */
export interface SignedDocument {
  /** e.g. `hot upgrade "1.2.0"`. */
  what: string
  /** The function the caller exposes, for the no-trusted-keys error. */
  caller: string
  /** What did not happen because of it, e.g. `the upgrade was not applied`. */
  refused: string
  /** What this machine accepts only when signed, e.g. `upgrades`. */
  accepts: string
}

/**
 * Check that `signature` is over `payload` by one of `trustedKeys`. Returns the keyId that
 * verified it; throws `SignatureError` ('missing', 'unknown-key' or 'invalid').
 */
export function verifyPayload(
  payload: Uint8Array,
  signature: UpgradeSignature | null | undefined,
  trustedKeys: readonly KeyInput[],
  doc: SignedDocument,
): string {
  if (trustedKeys.length === 0) {
    throw new ConfigError(
      'trustedKeys',
      `${doc.caller} needs at least one trusted public key; configure the keys (or do not verify signatures at all)`,
    )
  }
  const keys = trustedKeys.map((key, index) => publicKeyOf(key, `trustedKeys[${index}]`))
  if (signature === undefined || signature === null) {
    throw new SignatureError(
      'missing',
      `${doc.what} is not signed, and this machine only accepts signed ${doc.accepts}; ${doc.refused}. ` +
        'Publish it with a signing key configured on the publisher.',
      null,
    )
  }
  const keyId = String(signature.keyId)
  const candidates = keys.filter((key) => keyIdOf(key) === keyId)
  if (candidates.length === 0) {
    throw new SignatureError(
      'unknown-key',
      `${doc.what} is signed with key ${keyId}, which is not among the trusted keys ` +
        `(${keys.map(keyIdOf).join(', ')}); ${doc.refused}. Add that public key to the trusted keys, ` +
        'or publish again with a trusted signing key.',
      keyId,
    )
  }
  const value = Buffer.from(String(signature.value), 'base64')
  const valid =
    signature.alg === 'ed25519' &&
    value.length === ED25519_SIGNATURE_BYTES &&
    value.toString('base64') === signature.value &&
    candidates.some((key) => verify(null, payload, key, value))
  if (!valid) {
    throw new SignatureError(
      'invalid',
      `the signature of ${doc.what} (key ${keyId}) does not verify: the document was changed after it was ` +
        `signed, or the signature is corrupt; ${doc.refused}. Publish it again.`,
      keyId,
    )
  }
  return keyId
}

/**
 * Key material from a PEM string or from the path of a PEM file: a private key (PKCS#8) or a
 * public key (SPKI), Ed25519 only.
 */
export async function loadKey(pathOrPem: string): Promise<KeyObject> {
  if (pathOrPem.includes('-----BEGIN')) return parsePem(pathOrPem, 'the PEM text')
  let text: string
  try {
    text = await readFile(pathOrPem, 'utf8')
  } catch (error) {
    throw new ConfigError('key', `cannot read the key file ${pathOrPem}: ${(error as Error).message}`)
  }
  return parsePem(text, pathOrPem)
}

function parsePem(pem: string, where: string): KeyObject {
  let key: KeyObject
  try {
    key = pem.includes('PRIVATE KEY') ? createPrivateKey(pem) : createPublicKey(pem)
  } catch (error) {
    throw new ConfigError('key', `${where} is not a PEM key: ${(error as Error).message}`)
  }
  return assertEd25519(key, where)
}

function publicKeyOf(input: KeyInput, what: string): KeyObject {
  let key: KeyObject
  try {
    key =
      typeof input === 'string'
        ? createPublicKey(input)
        : input.type === 'private'
          ? createPublicKey(input)
          : input
  } catch (error) {
    throw new ConfigError(what, `${what} is not a public key (SPKI PEM): ${(error as Error).message}`)
  }
  return assertEd25519(key, what)
}

function privateKeyOf(input: KeyInput): KeyObject {
  let key: KeyObject
  try {
    key = typeof input === 'string' ? createPrivateKey(input) : input
  } catch (error) {
    throw new ConfigError(
      'privateKey',
      `the signing key is not a private key (PKCS#8 PEM): ${(error as Error).message}`,
    )
  }
  if (key.type !== 'private') {
    throw new ConfigError('privateKey', 'signing needs the private key (PKCS#8 PEM), not the public one')
  }
  return assertEd25519(key, 'the signing key')
}

function assertEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(
      'key',
      `${what} is a ${key.asymmetricKeyType ?? key.type} key; relup signs with Ed25519 keys only`,
    )
  }
  return key
}
