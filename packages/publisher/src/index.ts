export { type DoctorProbe, type ProbeVerdict, runDoctor, storageReady } from './doctor.js'
export { LockHeldError, NothingToRollBackError, StorageUnfitError } from './errors.js'
export {
  type FleetMachine,
  type FleetStatus,
  type MachineState,
  machineState,
  readFleetStatus,
} from './fleet.js'
export { publishHistory } from './history.js'
export {
  type AcquireLockOptions,
  acquireLock,
  type BreakLockOutcome,
  breakLock,
  type HeldLock,
  releaseLock,
  whoAmI,
} from './lock.js'
export { type PublishOptions, publish } from './publish.js'
export { type RollbackOptions, rollback } from './rollback.js'
export { DEFAULT_STORAGE, openStorage } from './storageUrl.js'
export type { DeployOptions, PublishOutcome, Reporter } from './types.js'
export {
  expectedMachines,
  type MachineOutcome,
  type WaitOptions,
  type WaitProgress,
  waitForResults,
} from './wait.js'
