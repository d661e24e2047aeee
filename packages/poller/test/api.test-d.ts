// The public types this package promises (checked by `tsc`, not run).
import type { EngineStats as CoreEngineStats, Logger as CoreLogger, UpgradeStats } from '@relup/core'
import type { createSwapEngine } from '@relup/swap'
import { expectTypeOf } from 'vitest'
import type {
  AttemptPhase,
  currentVsn,
  EngineStats,
  Logger,
  RelupEvents,
  UpgradeEngine,
  VersionInfo,
} from '../src/index.js'

expectTypeOf<EngineStats>().toEqualTypeOf<CoreEngineStats>()
expectTypeOf<Logger>().toEqualTypeOf<CoreLogger>()
expectTypeOf<RelupEvents['upgrade:completed'][0]['stats']>().toEqualTypeOf<UpgradeStats>()
expectTypeOf<UpgradeEngine['releaseDirsInUse']>().toEqualTypeOf<(() => string[]) | undefined>()
expectTypeOf<typeof currentVsn>().toEqualTypeOf<(app?: string) => VersionInfo | null>()
expectTypeOf<AttemptPhase>().toEqualTypeOf<'report' | 'verify' | 'download' | 'swap'>()
// The swap engine is an UpgradeEngine as it is.
expectTypeOf<Awaited<ReturnType<typeof createSwapEngine>>>().toMatchTypeOf<UpgradeEngine>()
