export { type ArtifactFiles, type ArtifactFilesOptions, artifactFiles } from './artifactFiles.js'
export { signColdRelease, verifyColdRelease } from './coldSignature.js'
export {
  type ArchiveLimit,
  ArchiveLimitError,
  DestinationExistsError,
  IntegrityError,
  type IntegrityFailure,
  PackError,
  SignatureError,
  type SignatureFailure,
  UnsafeArchiveError,
} from './errors.js'
export { type ExtractedRelease, type ExtractOptions, extractArtifact } from './extract.js'
export { type ArchiveLimits, DEFAULT_LIMITS } from './limits.js'
export { type PackedArtifact, type PackOptions, pack } from './pack.js'
export {
  generateSigningKeyPair,
  type KeyInput,
  keyIdOf,
  loadKey,
  type SigningKeyPair,
  signHotUpgrade,
  verifyHotUpgrade,
} from './signature.js'
export type { ArtifactSource } from './types.js'
