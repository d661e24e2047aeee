export {
  createSwapEngine,
  DEFAULT_DISPOSE_TIMEOUT,
  DEFAULT_SUSPEND_TIMEOUT,
  type SwapEngine,
} from './engine.js'
export {
  EngineClosedError,
  HandleError,
  NativeAddonRequireError,
  ReleaseLoadError,
  type RestartReason,
  RestartRequiredError,
  UpgradeError,
  type UpgradePhase,
} from './errors.js'
export { computeManifest } from './manifest.js'
export type {
  DisposeFailure,
  EngineEvents,
  EngineStatus,
  Logger,
  SwapEngineOptions,
  SwapStats,
  UnitHandle,
  UpgradeEvent,
  UpgradeOptions,
} from './types.js'
export { defineUnit, type Listenable, type UnitApi, type UnitContext, type UnitDefinition } from './unit.js'
