export { runDoctor } from './commands/doctor.js'
export { machineState } from './commands/status.js'
export { LockHeldError, NothingToRollBackError, StorageUnfitError, UsageError } from './errors.js'
export { acquireLock, type HeldLock, releaseLock, whoAmI } from './lock.js'
export { run, usage } from './main.js'
export type { Io } from './output.js'
export {
  type DeployOptions,
  type PublishOptions,
  type PublishOutcome,
  publish,
  publishHistory,
  type Reporter,
  type RollbackOptions,
  rollback,
} from './publisher.js'
export { DEFAULT_STORAGE, openStorage } from './storageUrl.js'
export { expectedMachines, type MachineOutcome, type WaitProgress, waitForResults } from './wait.js'
