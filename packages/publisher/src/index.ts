export type { HostImport, ReleaseCheck, ReleaseProblem } from '@relup/swap'
export { announceMove, openNotifierUrl } from './announce.js'
export {
  ColdReleaseError,
  coldResults,
  missingDependencies,
  type PublishColdOptions,
  publishCold,
  reasonsForCold,
  rollbackCold,
} from './cold.js'
export {
  type ColdEntryComparison,
  type CompareColdEntryOptions,
  coldEntryFilter,
  compareColdEntry,
} from './coldEntry.js'
export {
  abortColdRollout,
  type ColdRolloutControlOptions,
  type ColdRolloutMachine,
  type ColdRolloutOutcome,
  type ColdRolloutStatus,
  coldRolloutStatus,
  type PublishColdRolloutOptions,
  publishColdRollout,
  resumeColdRollout,
} from './coldRollout.js'
export {
  type ColdWaitOutcome,
  coldFleet,
  coldReach,
  type LeftOutMachine,
  type WaitForColdOptions,
  waitForColdRelease,
} from './coldWait.js'
export { type DoctorProbe, type ProbeVerdict, runDoctor, storageReady } from './doctor.js'
export {
  ArtifactCorruptError,
  ArtifactGoneError,
  CancelledError,
  describeProblem,
  LockHeldError,
  LockUnreadableError,
  NothingToRollBackError,
  ReleaseCheckError,
  StorageAdapterMissingError,
  StorageUnfitError,
  WriteLostError,
} from './errors.js'
export {
  type FleetMachine,
  type FleetStatus,
  type MachineState,
  machineState,
  readFleetStatus,
} from './fleet.js'
export {
  DEFAULT_KEEP,
  DEFAULT_MACHINE_RETENTION_MS,
  DEFAULT_ORPHAN_GRACE_MS,
  type GcOptions,
  type GcOutcome,
  gc,
  type KeepReason,
  type KeptUpgrade,
} from './gc.js'
export { publishHistory } from './history.js'
export {
  type AcquireLockOptions,
  acquireLock,
  type BreakLockOutcome,
  breakLock,
  type HeldLock,
  type LockReplaceReason,
  type ReleaseLockOutcome,
  type ReplacedLock,
  releaseLock,
  whoAmI,
} from './lock.js'
export { isMinorityBase, type OtherBaseMachine } from './machines.js'
export { type DeployOperation, PUBLISHER_METER } from './metrics.js'
export { type PointerState, readPointerState } from './pointer.js'
export { type PublishOptions, publish } from './publish.js'
export { type PlanPublishOptions, type PublishPlan, planPublish } from './publishPlan.js'
export {
  type CheckedHotCode,
  type CheckHotCodeOptions,
  checkHotCode,
  manifestToPublish,
} from './releaseCheck.js'
export {
  type MachineAction,
  type MachinePlan,
  type RepairOptions,
  type RepairOutcome,
  repair,
} from './repair.js'
export { type RollbackOptions, rollback } from './rollback.js'
export {
  AUTO_MIN_MACHINES,
  DEFAULT_HEALTH_WINDOW_MS,
  DEFAULT_ROLLOUT_PLAN,
  type RolloutOptions,
  type RolloutReport,
} from './rollout.js'
export {
  abortRollout,
  type RolloutMachine,
  type RolloutStatus,
  resumeRollout,
  rolloutStatus,
} from './rolloutControl.js'
export { DEFAULT_STORAGE, type OpenStorageOptions, openStorage } from './storageUrl.js'
export { removeOwnTempArtifactsSync } from './tempArtifacts.js'
export type { DeployOptions, PublishOutcome, Reporter, RollbackOutcome } from './types.js'
export {
  ackGraceMs,
  DEFAULT_ACK_TIMEOUT_MS,
  expectedMachines,
  type MachineOutcome,
  type WaitOptions,
  type WaitProgress,
  waitForResults,
} from './wait.js'
export { type WaitForBaseOptions, waitForBase } from './waitBase.js'
