/** Type-level tests of the public API: checked by `pnpm typecheck`, never run. */
import type {
  DisposeFailure as CoreDisposeFailure,
  Logger as CoreLogger,
  EngineStats,
  ModuleManifest,
  UpgradeStats,
} from '@relup/core'
import { expectTypeOf } from 'vitest'
import {
  type CheckReleaseOptions,
  checkRelease,
  createSwapEngine,
  type DisposeFailure,
  defineUnit,
  type HostImport,
  type Logger,
  type ReleaseCheck,
  type ReleaseProblem,
  type RestartReason,
  type SwapEngine,
  type SwapStats,
  type UnitApi,
  type UnitHandle,
  type UpgradePhase,
} from '../src/index.js'

const counter = defineUnit({
  init: () => ({ count: 0 }),
  codeChange: (old: unknown) => ({ count: (old as { n: number }).n }),
  create: (ctx) => {
    expectTypeOf(ctx.state).toEqualTypeOf<{ count: number }>()
    expectTypeOf(ctx.version).toEqualTypeOf<string>()
    expectTypeOf(ctx.longLived(Promise.resolve(1))).toEqualTypeOf<Promise<number>>()
    return {
      inc: (by: number) => (ctx.state.count += by),
      load: async () => ctx.state.count,
      label: 'counter',
    }
  },
})

declare const engine: SwapEngine<{ db: string }>

// Unit handles: every method returns a promise (calls may wait at the gate); other members stay as they are.
const byDefinition = engine.unit<typeof counter>('counter')
expectTypeOf(byDefinition.inc).toEqualTypeOf<(by: number) => Promise<number>>()
expectTypeOf(byDefinition.load).toEqualTypeOf<() => Promise<number>>()
expectTypeOf(byDefinition.label).toEqualTypeOf<string>()
expectTypeOf(engine.unit<UnitApi<typeof counter>>('counter')).toEqualTypeOf<
  UnitHandle<UnitApi<typeof counter>>
>()

// The signature the runtime poller relies on.
expectTypeOf(engine.upgrade).parameters.toEqualTypeOf<
  [
    releaseDir: string,
    options?: {
      manifest?: ModuleManifest
      version?: string
      suspendTimeout?: number
      verified?: boolean
      revert?: boolean
    },
  ]
>()
// How @relup/poller calls an engine (its UpgradeEngine; swap cannot import the floor above it).
interface UpgradeEngineContract {
  upgrade(
    releaseDir: string,
    options: {
      manifest: ModuleManifest
      version: string
      suspendTimeout: number
      verified: boolean
      revert?: boolean
    },
  ): Promise<EngineStats>
  releaseDirsInUse(): string[]
  callStats(version?: string): { calls: number; errors: number; responses: number; serverErrors: number }
  threwFrom(error: unknown, releaseDir?: string): boolean
}
expectTypeOf(engine).toExtend<UpgradeEngineContract>()
expectTypeOf(engine.upgrade).returns.resolves.toEqualTypeOf<SwapStats>()
expectTypeOf<SwapStats>().toMatchTypeOf<Omit<UpgradeStats, 'downloadMs'>>()
// What the runtime records: core's EngineStats, with the fields core leaves optional always set.
expectTypeOf<SwapStats>().toExtend<EngineStats>()
expectTypeOf<SwapStats['drainMs']>().toEqualTypeOf<number>()
expectTypeOf<SwapStats['degraded']>().toEqualTypeOf<boolean>()
expectTypeOf<SwapStats['disposeErrors']>().toEqualTypeOf<CoreDisposeFailure[]>()
expectTypeOf<DisposeFailure>().toEqualTypeOf<CoreDisposeFailure>()
expectTypeOf<Logger>().toEqualTypeOf<CoreLogger>()
// The poller keeps these directories when it prunes old releases.
expectTypeOf(engine.releaseDirsInUse).toEqualTypeOf<() => string[]>()
expectTypeOf(engine.version).toEqualTypeOf<string>()
expectTypeOf(engine.manifest).toEqualTypeOf<ModuleManifest>()
expectTypeOf(engine.assetsDir).toEqualTypeOf<string | null>()
expectTypeOf<UpgradePhase>().toEqualTypeOf<'refuse' | 'prepare' | 'suspend' | 'migrate' | 'commit'>()
expectTypeOf<RestartReason>().toEqualTypeOf<
  'native-addon' | 'node-abi' | 'static-dependencies' | 'host-package-versions'
>()

expectTypeOf(createSwapEngine({ releaseDir: 'x', deps: { db: 'pool' } })).resolves.toEqualTypeOf<
  SwapEngine<{ db: string }>
>()

// What `relup pack` calls before uploading: the loader's rules, nothing evaluated.
expectTypeOf(checkRelease).toEqualTypeOf<
  (dir: string, options?: CheckReleaseOptions) => Promise<ReleaseCheck>
>()
expectTypeOf<ReleaseCheck>().toEqualTypeOf<{
  ok: boolean
  problems: ReleaseProblem[]
  warnings: ReleaseProblem[]
  modules: string[]
  hostImports: HostImport[]
  hostPackages: Record<string, string>
  manifest: ModuleManifest | null
}>()
expectTypeOf<CheckReleaseOptions['previous']>().toEqualTypeOf<ModuleManifest | undefined>()
expectTypeOf<HostImport['kind']>().toEqualTypeOf<'import' | 'dynamic-import' | 'require'>()
expectTypeOf<ReleaseProblem['kind']>().toEqualTypeOf<
  | 'syntax'
  | 'top-level-await'
  | 'unresolved-import'
  | 'import-outside-release'
  | 'release-tree'
  | 'unresolved-package'
  | 'restart-required'
>()
expectTypeOf<SwapStats['warnings']>().toEqualTypeOf<string[]>()

// @ts-expect-error create is required
defineUnit({ init: () => 1 })
