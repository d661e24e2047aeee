/**
 * Retention against a real fleet: runtimes of @relup/poller with the real swap engine, in this
 * process, on a filesystem store. After gc, every live machine restarts cleanly (on the pointer's
 * release, downloaded again into a fresh state directory too) and rollback reaches the kept versions.
 */
import { parseMachineRecord, readDocument, relupKeys, type Storage } from '@relup/core'
import { type Relup, silentLogger, startRelup } from '@relup/poller'
import { fsStorage } from '@relup/storage-fs'
import { createSwapEngine, type SwapEngine } from '@relup/swap'
import { describe, expect, it } from 'vitest'
import { gc, NothingToRollBackError, publish, publishHistory, rollback } from '../src/index.js'
import { APP, hotDir, onCleanup, tempDir } from './helpers.js'

interface Machine {
  relup: Relup
  engine: SwapEngine
  stateDir: string
  answer(): string
}

async function startMachine(
  storage: Storage,
  machineId: string,
  options: { stateDir?: string; pollInterval?: number } = {},
): Promise<Machine> {
  const engine = await createSwapEngine({
    releaseDir: await hotDir('base'),
    version: 'base',
    logger: { warn() {}, error() {} },
  })
  onCleanup(() => engine.close())
  const stateDir = options.stateDir ?? (await tempDir('state'))
  const relup = await startRelup({
    app: APP,
    storage,
    engine,
    baseRef: 'image-1',
    machineId,
    stateDir,
    pollInterval: options.pollInterval ?? 50,
    logger: silentLogger,
  })
  onCleanup(() => relup.stop())
  const handler = engine.module<() => string>('handler.js')
  return { relup, engine, stateDir, answer: () => handler() }
}

const publishVersion = async (storage: Storage, version: string, wait: boolean) =>
  publish({ storage, app: APP, dir: await hotDir(version), version, wait, gc: false, timeoutMs: 20_000 })

describe('gc with a live fleet', () => {
  it('every live machine restarts cleanly after gc, and rollback still reaches the kept versions', async () => {
    const storage = fsStorage({ dir: await tempDir('gc-fleet') })
    onCleanup(async () => storage.close())
    const m1 = await startMachine(storage, 'm1')
    for (const v of ['v1', 'v2', 'v3']) expect((await publishVersion(storage, v, true)).ok).toBe(true)
    // m2 boots on v3 and then polls so rarely that it stays there while the fleet moves on.
    const m2 = await startMachine(storage, 'm2', { pollInterval: 3_600_000 })
    expect(m2.answer()).toBe('v3')
    for (let i = 4; i <= 12; i++) await publishVersion(storage, `v${i}`, false)
    await m1.relup.checkNow()
    expect(m1.answer()).toBe('v12')
    // Its record follows the completed result within recordDelay: gc reads what the record says.
    await expect
      .poll(
        async () => {
          const read = await readDocument(storage, relupKeys(APP).machine('m1'), parseMachineRecord)
          return read.status === 'ok' ? read.document.version : null
        },
        { timeout: 5000 },
      )
      .toBe('v12')

    const outcome = await gc({ storage, app: APP, keep: 3 })
    const kept = Object.fromEntries(outcome.kept.map((k) => [k.version, k.reasons.sort()]))
    expect(kept).toEqual({
      v12: ['machine', 'recent', 'stable'],
      v11: ['recent', 'rollback'],
      v10: ['recent'],
      v3: ['machine'],
    })
    expect((await publishHistory(storage, APP)).map((h) => h.version)).toEqual(['v3', 'v10', 'v11', 'v12'])

    // Restarts: the same state directories, and a machine with a fresh one (it downloads v12).
    await m1.relup.stop()
    await m2.relup.stop()
    const again1 = await startMachine(storage, 'm1', { stateDir: m1.stateDir })
    const again2 = await startMachine(storage, 'm2', { stateDir: m2.stateDir })
    const fresh = await startMachine(storage, 'm3')
    for (const m of [again1, again2, fresh]) {
      expect(m.answer()).toBe('v12')
      expect(m.relup.getState().lastUpgrade?.status ?? 'completed').toBe('completed')
    }

    // Rollback to each kept version reaches every live machine.
    for (const to of ['v10', 'v3']) {
      const back = await rollback({ storage, app: APP, to, timeoutMs: 20_000 })
      expect(back.ok).toBe(true)
      expect(back.outcomes.map((o) => [o.machineId, o.status]).sort()).toEqual([
        ['m1', 'completed'],
        ['m2', 'completed'],
        ['m3', 'completed'],
      ])
      for (const m of [again1, again2, fresh]) expect(m.answer()).toBe(to)
    }
    // A removed version is not offered, and the error lists what is.
    const error = await rollback({ storage, app: APP, to: 'v5' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NothingToRollBackError)
    expect((error as Error).message).toMatch(/known versions: v3, v10, v11, v12/)
  })
})
