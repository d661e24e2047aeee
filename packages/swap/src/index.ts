export type { DisposeFailure, Logger } from '@relup/core'
export type { VersionCalls } from './callStats.js'
export { type CheckReleaseOptions, checkRelease, type ReleaseCheck } from './checkRelease.js'
export { DEFAULT_DISPOSE_TIMEOUT, DEFAULT_SUSPEND_TIMEOUT } from './constants.js'
export { createSwapEngine, type SwapEngine } from './engine.js'
export {
  EngineClosedError,
  HandleError,
  HotModuleError,
  NativeAddonRequireError,
  ReleaseLoadError,
  type ReleaseProblem,
  type ReleaseProblemKind,
  type RestartReason,
  RestartRequiredError,
  UpgradeError,
  type UpgradePhase,
} from './errors.js'
export type { HostImport } from './hostImports.js'
export type {
  EngineEvents,
  EngineStatus,
  SwapEngineOptions,
  SwapStats,
  UnitHandle,
  UpgradeEvent,
  UpgradeOptions,
} from './types.js'
export { defineUnit, type Listenable, type UnitApi, type UnitContext, type UnitDefinition } from './unit.js'
