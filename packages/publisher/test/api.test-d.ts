// The public types this package promises (checked by `tsc`, not run).
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
  MachineOutcome,
  MachineState,
  PublishOptions,
  PublishOutcome,
  publish,
  RollbackOptions,
  readFleetStatus,
  rollback,
} from '../src/index.js'

expectTypeOf<typeof publish>().toEqualTypeOf<(options: PublishOptions) => Promise<PublishOutcome>>()
expectTypeOf<typeof rollback>().toEqualTypeOf<(options: RollbackOptions) => Promise<PublishOutcome>>()
expectTypeOf<PublishOutcome['upgrade']>().toEqualTypeOf<HotUpgrade>()
expectTypeOf<MachineOutcome['status']>().toEqualTypeOf<'completed' | 'failed' | 'timed-out'>()
expectTypeOf<MachineOutcome['degraded']>().toEqualTypeOf<boolean>()
expectTypeOf<MachineOutcome['result']>().toEqualTypeOf<MachineResult | null>()

expectTypeOf<Parameters<typeof readFleetStatus>[0]>().toMatchTypeOf<{ storage: Storage; app: string }>()
expectTypeOf<ReturnType<typeof readFleetStatus>>().toEqualTypeOf<Promise<FleetStatus>>()
expectTypeOf<FleetStatus['pointer']>().toEqualTypeOf<CurrentPointer | null>()
expectTypeOf<FleetStatus['lock']>().toEqualTypeOf<LockDocument | null>()
expectTypeOf<FleetStatus['machines'][number]>().toMatchTypeOf<MachineRecord & { state: MachineState }>()
expectTypeOf<MachineState>().toEqualTypeOf<
  'current' | 'degraded' | 'behind' | 'failed' | 'older base' | 'stopped' | 'not seen recently'
>()

expectTypeOf<BreakLockOutcome['status']>().toEqualTypeOf<
  'removed' | 'removed-unreadable' | 'free' | 'changed'
>()
expectTypeOf<DoctorProbe['verdict']>().toEqualTypeOf<'ok' | 'missing' | 'BROKEN'>()
