export type { AttemptPhase } from './attempt.js'
export { backoffDelay, jittered } from './backoff.js'
export { currentVsn, type VersionInfo } from './currentVsn.js'
export type { DevOptions } from './devOptions.js'
export {
  AmbiguousVersionError,
  ArtifactMissingError,
  BaseRebuiltError,
  MachineIdInUseError,
  StartupError,
} from './errors.js'
export { type Logger, quietLogger, silentLogger } from './logger.js'
export { markerPath, readMarker } from './markerFile.js'
export {
  type EngineStats,
  type RelupOptions,
  SAFETY_NET_HEARTBEAT,
  SAFETY_NET_POLL,
  type UpgradeEngine,
} from './options.js'
export { Relup, startRelup } from './relup.js'
export type { LastUpgrade, RelupEvents, RelupState } from './types.js'
