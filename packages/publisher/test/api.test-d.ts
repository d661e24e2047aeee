// The public types this package promises (checked by `tsc`, not run).

import type { MeterProvider } from '@opentelemetry/api'
import type {
  CurrentPointer,
  HotUpgrade,
  LockDocument,
  MachineRecord,
  MachineResult,
  Storage,
} from '@relup/core'
import { expectTypeOf } from 'vitest'
import type {
  BreakLockOutcome,
  DoctorProbe,
  FleetStatus,
  GcOptions,
  GcOutcome,
  gc,
  KeepReason,
  MachineOutcome,
  MachineState,
  OpenStorageOptions,
  OtherBaseMachine,
  openStorage,
  PublishOptions,
  PublishOutcome,
  publish,
  ReleaseLockOutcome,
  RepairOptions,
  RepairOutcome,
  ReplacedLock,
  RollbackOptions,
  RollbackOutcome,
  readFleetStatus,
  repair,
  rollback,
} from '../src/index.js'

expectTypeOf<typeof publish>().toEqualTypeOf<(options: PublishOptions) => Promise<PublishOutcome>>()
expectTypeOf<typeof rollback>().toEqualTypeOf<(options: RollbackOptions) => Promise<RollbackOutcome>>()
expectTypeOf<typeof repair>().toEqualTypeOf<(options: RepairOptions) => Promise<RepairOutcome>>()
expectTypeOf<typeof openStorage>().toEqualTypeOf<
  (url: string, options?: OpenStorageOptions) => Promise<Storage>
>()
expectTypeOf<PublishOutcome['upgrade']>().toEqualTypeOf<HotUpgrade>()
expectTypeOf<RollbackOutcome['upgrade']>().toEqualTypeOf<HotUpgrade | null>()
expectTypeOf<PublishOutcome['replacedLock']>().toEqualTypeOf<ReplacedLock | null>()
expectTypeOf<ReplacedLock['reason']>().toEqualTypeOf<'expired' | 'forced' | 'dead-process'>()
expectTypeOf<PublishOutcome['warnings']>().toEqualTypeOf<string[]>()
expectTypeOf<PublishOutcome['otherBaseMachines']>().toEqualTypeOf<OtherBaseMachine[]>()
expectTypeOf<ReleaseLockOutcome['status']>().toEqualTypeOf<'released' | 'taken-over' | 'gone'>()
expectTypeOf<RepairOutcome['status']>().toEqualTypeOf<'repaired' | 'dry-run' | 'nothing-to-repair'>()
expectTypeOf<MachineOutcome['status']>().toEqualTypeOf<'completed' | 'failed' | 'timed-out' | 'absent'>()
expectTypeOf<MachineOutcome['degraded']>().toEqualTypeOf<boolean>()
expectTypeOf<MachineOutcome['result']>().toEqualTypeOf<MachineResult | null>()

expectTypeOf<Parameters<typeof readFleetStatus>[0]>().toMatchTypeOf<{ storage: Storage; app: string }>()
expectTypeOf<ReturnType<typeof readFleetStatus>>().toEqualTypeOf<Promise<FleetStatus>>()
expectTypeOf<FleetStatus['pointer']>().toEqualTypeOf<CurrentPointer | null>()
expectTypeOf<FleetStatus['lock']>().toEqualTypeOf<LockDocument | null>()
expectTypeOf<FleetStatus['pointerProblem']>().toEqualTypeOf<string | null>()
expectTypeOf<FleetStatus['lockProblem']>().toEqualTypeOf<string | null>()
expectTypeOf<FleetStatus['machines'][number]>().toMatchTypeOf<MachineRecord & { state: MachineState }>()
expectTypeOf<MachineState>().toEqualTypeOf<
  'current' | 'candidate' | 'degraded' | 'behind' | 'failed' | 'older base' | 'stopped' | 'not seen recently'
>()

expectTypeOf<BreakLockOutcome['status']>().toEqualTypeOf<
  'removed' | 'removed-unreadable' | 'free' | 'changed'
>()
expectTypeOf<DoctorProbe['verdict']>().toEqualTypeOf<'ok' | 'missing' | 'BROKEN'>()

// Retention and metrics.
expectTypeOf<typeof gc>().toEqualTypeOf<(options: GcOptions) => Promise<GcOutcome>>()
expectTypeOf<GcOutcome['deleted']>().toEqualTypeOf<{
  history: string[]
  results: string[]
  artifacts: string[]
  machines: string[]
}>()
expectTypeOf<KeepReason>().toEqualTypeOf<
  'stable' | 'candidate' | 'recent' | 'machine' | 'rollback' | 'cold'
>()
expectTypeOf<PublishOptions['gc']>().toEqualTypeOf<boolean | { keep?: number | undefined } | undefined>()
expectTypeOf<PublishOptions['meterProvider']>().toEqualTypeOf<MeterProvider | undefined>()
