// The public types this package promises (checked by `tsc`, not run).

import type { MeterProvider } from '@opentelemetry/api'
import type {
  EngineStats as CoreEngineStats,
  Logger as CoreLogger,
  ModuleManifest,
  NotifierState,
  RelupError,
  UpgradeStats,
} from '@relup/core'
import type { createSwapEngine } from '@relup/swap'
import { expectTypeOf } from 'vitest'
import type {
  AttemptPhase,
  BaseRebuiltError,
  currentVsn,
  DevOptions,
  EngineStats,
  Logger,
  MachineIdInUseError,
  RelupEvents,
  RelupOptions,
  UpgradeEngine,
  VersionInfo,
} from '../src/index.js'

expectTypeOf<EngineStats>().toEqualTypeOf<CoreEngineStats>()
expectTypeOf<Logger>().toEqualTypeOf<CoreLogger>()
expectTypeOf<RelupEvents['upgrade:completed'][0]['stats']>().toEqualTypeOf<UpgradeStats>()
expectTypeOf<UpgradeEngine['releaseDirsInUse']>().toEqualTypeOf<(() => string[]) | undefined>()
// The base's manifest, read at start: optional, so an engine without it still fits.
expectTypeOf<UpgradeEngine['manifest']>().toEqualTypeOf<ModuleManifest | undefined>()
// null: that failure was the last attempt (maxAttempts).
expectTypeOf<RelupEvents['upgrade:failed'][0]['retryInMs']>().toEqualTypeOf<number | null>()
expectTypeOf<RelupOptions['maxAttempts']>().toEqualTypeOf<number | undefined>()
expectTypeOf<MachineIdInUseError>().toMatchTypeOf<RelupError & { machineId: string; pid: number }>()
expectTypeOf<BaseRebuiltError>().toMatchTypeOf<RelupError>()
expectTypeOf<typeof currentVsn>().toEqualTypeOf<(app?: string) => VersionInfo | null>()
expectTypeOf<AttemptPhase>().toEqualTypeOf<'report' | 'verify' | 'download' | 'swap'>()
// The swap engine is an UpgradeEngine as it is.
expectTypeOf<Awaited<ReturnType<typeof createSwapEngine>>>().toMatchTypeOf<UpgradeEngine>()
// Development mode: `dev: true`, or its options; its events carry the engine's stats and where a failure is.
expectTypeOf<RelupOptions['dev']>().toEqualTypeOf<boolean | DevOptions | undefined>()
expectTypeOf<RelupEvents['dev:reloaded'][0]['stats']>().toEqualTypeOf<CoreEngineStats>()
expectTypeOf<RelupEvents['dev:failed'][0]['location']>().toEqualTypeOf<string | null>()
// Metrics: where they go, and the events they read.
expectTypeOf<RelupOptions['meterProvider']>().toEqualTypeOf<MeterProvider | undefined>()
expectTypeOf<RelupEvents['notifier:state'][0]>().toEqualTypeOf<{
  state: NotifierState
  notifier: string
  connected: boolean
}>()
expectTypeOf<RelupEvents['poll:completed'][0]['status']>().toEqualTypeOf<
  'ok' | 'not-modified' | 'not-found' | 'malformed'
>()
