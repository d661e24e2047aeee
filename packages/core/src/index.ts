export { canonicalJson, signingPayload } from './canonical.js'
export {
  BAD_RELEASES_LIMIT,
  COLD_HISTORY,
  type ColdCandidate,
  type ColdPointer,
  type ColdRelease,
  coldBaseRef,
  coldKey,
  coldPointerSchema,
  coldReleaseFor,
  coldSigningPayload,
  parseColdPointer,
  withBadRelease,
} from './cold.js'
export { type DecideInput, type Decision, decide } from './decide.js'
export { type DocumentRead, encodeDocument, readDocument, writeDocument } from './document.js'
export {
  ConfigError,
  DocumentError,
  InvalidKeyError,
  isRelupError,
  ReleaseTreeError,
  RelupError,
  StorageTransportError,
  UnsupportedCapabilityError,
} from './errors.js'
export { fingerprint } from './fingerprint.js'
export { newToken, newUpgradeId, upgradeIdFromRef } from './ids.js'
export { assertAppName, type RelupKeys, relupKeys } from './keys.js'
export { isLockExpired, type LockDocument, lockSchema, parseLock } from './lock.js'
export type { Logger } from './logger.js'
export {
  isMachineRecent,
  type LastResult,
  type MachineRecord,
  machineRecordSchema,
  parseMachineRecord,
} from './machine.js'
export {
  diffManifests,
  isNativeAddon,
  type ManifestDiff,
  type ManifestFile,
  type ModuleManifest,
  manifestDigest,
  manifestMismatches,
  moduleManifestSchema,
  parseModuleManifest,
  summarizeMismatches,
} from './manifest.js'
export { type LocalMarker, localMarkerSchema, parseLocalMarker } from './marker.js'
export {
  encodeNotice,
  type NoticeHandlers,
  type NoticeReason,
  type Notifier,
  NotifierAdapterMissingError,
  NotifierError,
  type NotifierModule,
  type NotifierState,
  type NotifierSubscription,
  type NotifierUrlOptions,
  notifierPackageFor,
  openNotifier,
  type PointerNotice,
  parseNotice,
  pointerNotice,
  redactUrl,
} from './notifier.js'
export { SHA256_HEX } from './patterns.js'
export {
  type ArtifactRef,
  BAD_UPGRADES_LIMIT,
  type CurrentPointer,
  currentPointerSchema,
  type HotUpgrade,
  type HotUpgradeFields,
  hotUpgradeSchema,
  initialPointer,
  isStaleRead,
  newHotUpgrade,
  PREVIOUS_BASES_LIMIT,
  parseCurrentPointer,
  parseHotUpgrade,
  promoteCandidate,
  resetPointer,
  type UpgradeSignature,
  withCandidate,
  withHotUpgrade,
  withoutCandidate,
  withoutHotUpgrade,
  withRollout,
} from './pointer.js'
export {
  type DisposeFailure,
  type EngineStats,
  type HealthFigures,
  healthFiguresSchema,
  type MachineResult,
  machineResultSchema,
  parseMachineResult,
  type ResultError,
  type ResultStatus,
  type UpgradeStats,
} from './result.js'
export {
  cohortOf,
  formatRolloutPlan,
  inRolloutWave,
  inWave,
  parseRolloutPlan,
  type Rollout,
  type RolloutCandidate,
  type RolloutState,
  type RolloutWave,
  rolloutSchema,
  waveThreshold,
} from './rollout.js'
export { type Schema, SchemaIssue } from './schema.js'
export {
  type DeleteOptions,
  type DeleteResult,
  type GetOptions,
  type GetResult,
  type GetStreamResult,
  LIST_LIMIT,
  type ListItem,
  type ListOptions,
  type ListPage,
  listAll,
  type PutBody,
  type PutOptions,
  type PutResult,
  type Storage,
  type StorageCapabilities,
  type StorageCapability,
} from './storage.js'
export { SUPERVISED_ENV, type Supervised, supervisedFromEnv, supervisedSchema } from './supervised.js'
