// Item 13: two processes must never share a machine id (one record, one state directory, one
// count in `relup publish`). Real processes: the default id differs per PM2 instance, and a second
// process started with the same id and state directory refuses to start, saying what to set.
import { hostname } from 'node:os'
import { join } from 'node:path'
import { listAll, relupKeys } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { APP, tempDir, writeRelease } from './helpers.js'
import { fixture, machineRecord, processBackends, runNode } from './processes.js'

/** Unset in the child, whatever this process has. */
const noIds = { RELUP_MACHINE_ID: '', FLY_MACHINE_ID: '', RELUP_STATE_DIR: '', NODE_APP_INSTANCE: '' }

describe.each(processBackends)('machine ids of processes on %s storage', (_name, backend) => {
  it('a second process with the same machine id and state directory refuses to start, naming what to set', async () => {
    const { storage, env: storageEnv } = await backend()
    const env = {
      ...storageEnv,
      ...noIds,
      RELUP_TEST_BASE_DIR: await writeRelease(await tempDir(), 'base'),
      RELUP_MACHINE_ID: 'web-1', // copy-pasted into two units
      RELUP_STATE_DIR: join(await tempDir('state'), 'web-1'),
    }
    const first = runNode(fixture('server.mjs'), env)
    await first.waitForLine((line) => line.ready === true, 'the first process')
    const second = runNode(fixture('server.mjs'), env)
    const exit = await second.exited
    expect(exit.code).not.toBe(0)
    expect(second.stdout()).toBe('')
    expect(second.stderr()).toMatch(/ERR_RELUP_MACHINE_ID_IN_USE/)
    expect(second.stderr()).toMatch(
      new RegExp(`machine id "web-1" is already in use by process ${first.child.pid}`),
    )
    expect(second.stderr()).toMatch(/set RELUP_MACHINE_ID \(the machineId option\) and RELUP_STATE_DIR/)
    // The record is the first process's, untouched by the second.
    expect((await machineRecord(storage, 'web-1'))?.pid).toBe(first.child.pid)
    expect(first.child.exitCode).toBeNull()
    expect(await first.stop()).toEqual({ code: 0, signal: null })

    // Once the first stopped (its lock removed), the same id starts again.
    const third = runNode(fixture('server.mjs'), env)
    await third.waitForLine((line) => line.ready === true, 'a process after the first stopped')
  })

  it('PM2 instances of one app on one host get their own default machine ids', async () => {
    const { storage, env: storageEnv } = await backend()
    const common = {
      ...storageEnv,
      ...noIds,
      RELUP_TEST_BASE_DIR: await writeRelease(await tempDir(), 'base'),
      TMPDIR: await tempDir('tmp'), // where the default state directories go
    }
    const instances = ['0', '1'].map((n) =>
      runNode(fixture('server.mjs'), { ...common, NODE_APP_INSTANCE: n }),
    )
    const ready = await Promise.all(
      instances.map((run) => run.waitForLine((line) => line.ready === true, 'ready')),
    )
    const host = hostname().replace(/[^A-Za-z0-9._+@=-]/g, '-')
    expect(ready.map((line) => line.machineId)).toEqual([`${host}-0`, `${host}-1`])
    const records: string[] = []
    for await (const item of listAll(storage, relupKeys(APP).machinesPrefix)) records.push(item.key)
    expect(records.sort()).toEqual([relupKeys(APP).machine(`${host}-0`), relupKeys(APP).machine(`${host}-1`)])
  })

  it('node:cluster workers on one host get their own default machine ids', async () => {
    const { env: storageEnv } = await backend()
    const run = runNode(fixture('cluster.mjs'), { ...storageEnv, ...noIds, TMPDIR: await tempDir('tmp') })
    const { ids } = await run.waitForLine((line) => Array.isArray(line.ids), 'both workers')
    const host = hostname().replace(/[^A-Za-z0-9._+@=-]/g, '-')
    expect(ids).toEqual([`${host}-w1`, `${host}-w2`])
  })
})
