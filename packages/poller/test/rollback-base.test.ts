// A rollback to base (`relup rollback --to base`: the pointer keeps its base, without hot code)
// reaches running machines: each swaps its base release back in through the same transaction,
// its units migrated back, and reports it in its machine record; base code is its last good.
import {
  parseCurrentPointer,
  parseMachineRecord,
  readDocument,
  relupKeys,
  type Storage,
  withoutHotUpgrade,
  writeDocument,
} from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { createSwapEngine } from '@relup/swap'
import { describe, expect, it } from 'vitest'
import { readMarker, silentLogger } from '../src/index.js'
import {
  APP,
  publishDirect,
  startRuntime,
  tempDir,
  waitFor,
  waitForApplied,
  writeRelease,
} from './helpers.js'

const keys = relupKeys(APP)

async function rollBackToBase(storage: Storage) {
  const read = await readDocument(storage, keys.current, parseCurrentPointer)
  if (read.status !== 'ok') throw new Error('no pointer')
  await writeDocument(storage, keys.current, withoutHotUpgrade(read.document, { setBy: 'test' }), {
    ifMatch: read.etag,
  })
}

async function record(storage: Storage) {
  const read = await readDocument(storage, keys.machine('m1'), parseMachineRecord)
  return read.status === 'ok' ? read.document : null
}

describe('a rollback to base', () => {
  it('swaps the base release back in on a running machine, state kept, and forgets the hot release', async () => {
    const storage = memoryStorage()
    const engine = await createSwapEngine({
      releaseDir: await writeRelease(await tempDir(), 'base'),
      logger: { warn() {}, error() {} },
    })
    const stateDir = await tempDir('state')
    const relup = await startRuntime(storage, { engine, stateDir, pollInterval: 20, logger: silentLogger })
    const counter = engine.unit('counter')
    await counter.increment()
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')
    await counter.increment()
    expect(await counter.read()).toMatchObject({ version: 'v2', count: 2 })

    await rollBackToBase(storage)
    await waitFor(() => relup.getState().lastUpgrade?.upgradeId === 'base', 'the machine to go back to base')
    expect(await counter.read()).toMatchObject({ version: 'base', count: 2, migratedFrom: ['base', 'v2'] })
    expect(engine.version).toBe('base')
    expect(relup.currentVsn()).toMatchObject({ version: null, upgradeId: null })
    expect(await readMarker(stateDir)).toBeNull()
    expect(await record(storage)).toMatchObject({
      upgradeId: null,
      version: null,
      lastResult: { upgradeId: 'base', version: 'base', status: 'completed' },
    })
    await relup.stop()
    await engine.close()
  })

  it('that the base code refuses is reported in the machine record, and the hot code keeps serving', async () => {
    const storage = memoryStorage()
    const engine = await createSwapEngine({
      releaseDir: await writeRelease(await tempDir(), 'base', { breakCodeChange: true }),
      logger: { warn() {}, error() {} },
    })
    const relup = await startRuntime(storage, { engine, pollInterval: 20, logger: silentLogger })
    await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await waitForApplied(relup, 'v2')
    await rollBackToBase(storage)
    await waitFor(
      async () => (await record(storage))?.lastResult?.status === 'failed',
      'the failure to be reported',
    )
    expect(await record(storage)).toMatchObject({
      version: 'v2',
      lastResult: {
        upgradeId: 'base',
        status: 'failed',
        error: expect.stringContaining('codeChange of base throws'),
      },
    })
    expect(await engine.unit('counter').read()).toMatchObject({ version: 'v2' })
    await relup.stop()
    await engine.close()
  })
})
