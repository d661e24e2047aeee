/**
 * The demo under `relup run`: what one process hands the next on a cold upgrade. The counter
 * unit's count crosses as plain data and is added to the new process's own (it already serves
 * when the old one's final count arrives); long-lived SSE streams end at the drain, so pages
 * reconnect — to the new process — and see its machine id (host-pid) change while the count
 * continues.
 */

import { handOff, onDrain, onHandoff } from '@relup/supervisor/app'
import type { SwapEngine } from '@relup/swap'
import type { EventHub } from './eventHub.js'
import type { UnitDeps } from './host.js'

interface CounterUnit {
  get(): Promise<{ count: number }>
  /** The unit's live state: `{ count }` (v1, v2) or `{ value }` (v3). */
  state(): Promise<{ count?: number; value?: number }>
}

/** `stopping`: what the process does on its way out (stop the runtime, remove a per-process state directory). */
export function handOffAcrossProcesses(
  engine: SwapEngine<UnitDeps>,
  hub: EventHub,
  stopping: () => Promise<void>,
): void {
  const counter = () => engine.unit<CounterUnit>('counter')
  onDrain(async () => {
    hub.closeAll()
    await stopping()
  })
  handOff(async () => ({ count: (await counter().get()).count }))
  onHandoff((data) => {
    const handed = (data as { count?: unknown } | null)?.count
    if (typeof handed !== 'number' || handed <= 0) return
    void (async () => {
      // The unit's own state, as every version keeps it; its next increment counts from the sum.
      const state = await counter().state()
      if (typeof state.count === 'number') state.count += handed
      else if (typeof state.value === 'number') state.value += handed
      hub.broadcast('counter', { count: (await counter().get()).count })
    })()
  })
}
