/**
 * Ed25519 signatures over cold releases (`cold.json`'s release), the counterpart of the hot
 * upgrade's: the signature covers `coldSigningPayload(release)` — the whole release but the
 * signature, the release id, the command and the artifact's sha256 included — so a verified
 * release pins the exact bytes a supervisor extracts and what it runs them with.
 */
import { type ColdRelease, coldSigningPayload } from '@relup/core'
import { type KeyInput, signPayload, verifyPayload } from './signature.js'

/** The cold release with its `signature` set (any previous signature is replaced). */
export function signColdRelease(release: ColdRelease, privateKey: KeyInput): ColdRelease {
  return { ...release, signature: signPayload(coldSigningPayload(release), privateKey) }
}

/**
 * Check that `release` is signed by one of `trustedKeys` and unchanged since. Returns the keyId
 * that verified it; throws `SignatureError` ('missing', 'unknown-key' or 'invalid').
 */
export function verifyColdRelease(release: ColdRelease, trustedKeys: readonly KeyInput[]): string {
  return verifyPayload(coldSigningPayload(release), release.signature, trustedKeys, {
    what: `cold release ${JSON.stringify(release.version)} (${release.releaseId})`,
    caller: 'verifyColdRelease',
    refused: 'the release was not started',
    accepts: 'cold releases',
  })
}
