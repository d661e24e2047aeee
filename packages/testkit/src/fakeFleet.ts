import {
  type CurrentPointer,
  fingerprint,
  initialPointer,
  type MachineRecord,
  type MachineResult,
  parseCurrentPointer,
  type RelupKeys,
  readDocument,
  relupKeys,
  type Storage,
  type UpgradeStats,
  writeDocument,
} from '@relup/core'
import type { OnCleanup } from './testDirs.js'

/** The stats a machine reports for an upgrade that reloaded `handler.js` and nothing else. */
export const COMPLETED_STATS: UpgradeStats = {
  modulesReloaded: 1,
  moduleNames: ['handler.js'],
  unitsMigrated: 0,
  unitNames: [],
  unitsFailed: 0,
  pauseMs: 0.2,
  totalMs: 12,
}

/** Stats of an upgrade that committed while the old `counter` instance failed to dispose. */
export const DEGRADED_STATS: UpgradeStats = {
  ...COMPLETED_STATS,
  unitsMigrated: 1,
  unitNames: ['counter'],
  unitsFailed: 1,
  degraded: true,
  disposeErrors: [{ unit: 'counter', version: 'v1', message: 'socket still open' }],
}

/**
 * What a simulated machine does with a new hot upgrade: `complete` it (with `COMPLETED_STATS`),
 * complete it `degraded` (with `DEGRADED_STATS`), `fail` it in the prepare phase, stay `silent`
 * (write nothing), or get `stuck` (write `pending` and nothing after).
 */
export type MachineBehaviour = 'complete' | 'degraded' | 'fail' | 'silent' | 'stuck'

export interface FakeFleet {
  readonly keys: RelupKeys
  /** Writes the pointer the first machine of `baseRef` (default `image-1`) writes when it boots. */
  bootPointer(storage: Storage, baseRef?: string): Promise<void>
  /** The current pointer; throws if there is none. */
  pointerOf(storage: Storage): Promise<CurrentPointer>
  /**
   * Writes `machines/<machineId>.json` as a machine that just started in `ams` on `baseRef`
   * (default `image-1`) with no hot code; `extra` overrides any field.
   */
  announceMachine(
    storage: Storage,
    machineId: string,
    baseRef?: string,
    extra?: Partial<MachineRecord>,
  ): Promise<void>
  /** Writes a machine's result for an upgrade where the runtime writes it. */
  writeResult(storage: Storage, result: MachineResult): Promise<void>
  /**
   * A stand-in for machines: it watches the pointer and writes each machine's results the way
   * the runtime does (pending, then completed or failed), once per hot upgrade. It runs until the
   * returned function is called or the test's cleanup runs. Stopping resolves once the
   * simulation has made its last write, so the storage can be closed right after.
   */
  simulateMachines(storage: Storage, machines: Record<string, MachineBehaviour>): () => Promise<void>
}

/**
 * A fake fleet of app `app` for tests of the publishing side: machine records, results and a
 * stand-in for the machines themselves. The real runtime is exercised end to end in the fleet
 * tests of apps/demo. `onCleanup` stops every simulation once its test is over.
 */
export function fakeFleet(app: string, onCleanup: OnCleanup): FakeFleet {
  const keys = relupKeys(app)

  async function bootPointer(storage: Storage, baseRef = 'image-1') {
    await writeDocument(storage, keys.current, initialPointer(app, baseRef, { setBy: 'machine:test' }), {
      ifNoneMatch: '*',
    })
  }

  async function pointerOf(storage: Storage): Promise<CurrentPointer> {
    const read = await readDocument(storage, keys.current, parseCurrentPointer)
    if (read.status !== 'ok') throw new Error('no pointer')
    return read.document
  }

  async function announceMachine(
    storage: Storage,
    machineId: string,
    baseRef = 'image-1',
    extra: Partial<MachineRecord> = {},
  ) {
    const now = new Date().toISOString()
    const record: MachineRecord = {
      schema: 1,
      app,
      machineId,
      region: 'ams',
      baseRef,
      hotRef: null,
      version: null,
      upgradeId: null,
      fingerprint: fingerprint(baseRef, null),
      startedAt: now,
      updatedAt: now,
      lastResult: null,
      heartbeatMs: 60_000,
      stoppedAt: null,
      ...extra,
    }
    await writeDocument(storage, keys.machine(machineId), record)
  }

  async function writeResult(storage: Storage, result: MachineResult) {
    await writeDocument(storage, keys.result(result.upgradeId, result.machineId), result)
  }

  function simulateMachines(
    storage: Storage,
    machines: Record<string, MachineBehaviour>,
  ): () => Promise<void> {
    let stopped = false
    const handled = new Set<string>()
    const loop = async () => {
      while (!stopped) {
        const read = await readDocument(storage, keys.current, parseCurrentPointer).catch(() => null)
        const hot = read?.status === 'ok' ? read.document.hot : null
        if (hot && !handled.has(hot.upgradeId)) {
          handled.add(hot.upgradeId)
          for (const [machineId, behaviour] of Object.entries(machines)) {
            if (behaviour === 'silent') continue
            if (stopped) return
            const base = {
              schema: 1 as const,
              upgradeId: hot.upgradeId,
              machineId,
              region: 'ams',
              baseRef: hot.baseRef,
              version: hot.version,
              attempt: 1,
              startedAt: new Date().toISOString(),
            }
            await writeResult(storage, {
              ...base,
              status: 'pending',
              finishedAt: null,
              stats: null,
              error: null,
            })
            if (behaviour === 'stuck' || stopped) continue
            const finishedAt = new Date().toISOString()
            await writeResult(
              storage,
              behaviour === 'fail'
                ? {
                    ...base,
                    status: 'failed',
                    finishedAt,
                    stats: null,
                    error: {
                      code: 'ERR_RELUP_UPGRADE_FAILED',
                      message: `${machineId} could not evaluate handler.js`,
                      phase: 'prepare',
                    },
                  }
                : {
                    ...base,
                    status: 'completed',
                    finishedAt,
                    stats: behaviour === 'degraded' ? DEGRADED_STATS : COMPLETED_STATS,
                    error: null,
                  },
            )
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const running = loop()
    const stop = async () => {
      stopped = true
      await running
    }
    onCleanup(stop)
    return stop
  }

  return { keys, bootPointer, pointerOf, announceMachine, writeResult, simulateMachines }
}
