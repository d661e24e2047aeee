// Which release directories stay on disk: the running one, the one before it, and every one the
// engine still loads files from.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import {
  publishDirect,
  startMachine,
  startRuntime,
  stubEngine,
  tempDir,
  waitForApplied,
  writeRelease,
} from './helpers.js'

/** Reads the file beside it at call time, through `__dirname`, as code that serves templates does. */
const READER = `const fs = require('node:fs')
const path = require('node:path')
exports.read = () => fs.readFileSync(path.join(__dirname, 'beside.txt'), 'utf8')
`

describe('pruning releases', () => {
  it('keeps every release directory the engine says is in use, and prunes it once it is not', async () => {
    const storage = memoryStorage()
    let inUse: string[] = []
    const engine = { ...stubEngine(), releaseDirsInUse: () => inUse }
    const stateDir = await tempDir('state')
    const relup = await startRuntime(storage, { engine, stateDir })
    const publish = async (version: string) => {
      const hot = await publishDirect(storage, await writeRelease(await tempDir(), version), { version })
      await waitForApplied(relup, version)
      return hot
    }
    const releases = () => readdir(join(stateDir, 'releases')).then((names) => names.sort())

    const v1 = await publish('v1')
    // A module of v1 stays live through the next upgrades (its files come from v1's directory).
    inUse = [join(stateDir, 'releases', v1.upgradeId)]
    const v2 = await publish('v2')
    const v3 = await publish('v3')
    expect(await releases()).toEqual([v1.upgradeId, v2.upgradeId, v3.upgradeId].sort())

    inUse = []
    const v4 = await publish('v4')
    expect(await releases()).toEqual([v3.upgradeId, v4.upgradeId].sort())
  })

  it('a module unchanged since v1 still reads the file beside it after the upgrades to v2 and v3', async () => {
    const storage = memoryStorage()
    const machine = await startMachine(storage, { baseDir: await writeRelease(await tempDir(), 'base') })
    const extraFiles = { 'reader.js': READER, 'beside.txt': 'served from beside the reader' }
    for (const version of ['v1', 'v2', 'v3']) {
      await publishDirect(storage, await writeRelease(await tempDir(), version, { extraFiles }), { version })
      await waitForApplied(machine.relup, version)
    }
    expect(machine.engine.version).toBe('v3')
    const reader = machine.engine.module<{ read(): string }>('reader.js')
    expect(reader.read()).toBe('served from beside the reader')
  })
})
