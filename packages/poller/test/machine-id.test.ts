// Item 13 in one process: the default machine id, and the lock that keeps a second runtime off a
// machine id and state directory in use (a lock left by a dead process is taken over).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import { MachineIdInUseError } from '../src/index.js'
import { defaultMachineId } from '../src/machineId.js'
import { lockPath } from '../src/machineLock.js'
import { startRuntime, stubEngine, tempDir } from './helpers.js'

describe('the default machine id', () => {
  const host = hostname().replace(/[^A-Za-z0-9._+@=-]/g, '-')

  it('is RELUP_MACHINE_ID when set, as it is', () => {
    expect(defaultMachineId({ RELUP_MACHINE_ID: 'web-7', NODE_APP_INSTANCE: '2' })).toBe('web-7')
  })

  it('is FLY_MACHINE_ID or the hostname, with the PM2 instance number', () => {
    expect(defaultMachineId({})).toBe(host)
    expect(defaultMachineId({ NODE_APP_INSTANCE: '3' })).toBe(`${host}-3`)
    expect(defaultMachineId({ FLY_MACHINE_ID: '148e21ea', NODE_APP_INSTANCE: '0' })).toBe('148e21ea-0')
  })
})

describe('one runtime per machine id and state directory', () => {
  it('a second runtime on the same state directory is refused with MachineIdInUseError, until the first stops', async () => {
    const storage = memoryStorage()
    const stateDir = await tempDir('state')
    const first = await startRuntime(storage, { engine: stubEngine(), stateDir })
    const refused = startRuntime(storage, { engine: stubEngine(), stateDir })
    await expect(refused).rejects.toBeInstanceOf(MachineIdInUseError)
    await expect(refused).rejects.toMatchObject({
      code: 'ERR_RELUP_MACHINE_ID_IN_USE',
      machineId: 'm1',
      pid: process.pid,
      message: expect.stringMatching(
        /in use by another relup runtime in this process .*RELUP_MACHINE_ID \(the machineId option\)/,
      ),
    })
    await first.stop()
    expect(existsSync(lockPath(stateDir))).toBe(false)
    const next = await startRuntime(storage, { engine: stubEngine(), stateDir })
    expect(next.getState().mode).toBe('running')
  })

  it('a lock left by a process that died is taken over', async () => {
    const stateDir = await tempDir('state')
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    await writeFile(
      lockPath(stateDir),
      `${JSON.stringify({ pid: dead, host: hostname(), machineId: 'm1' })}\n`,
    )
    const relup = await startRuntime(memoryStorage(), { engine: stubEngine(), stateDir })
    expect(JSON.parse(await readFile(lockPath(stateDir), 'utf8'))).toMatchObject({ pid: process.pid })
    await relup.stop()
    expect(existsSync(join(stateDir, 'machine.lock'))).toBe(false)
  })
})
