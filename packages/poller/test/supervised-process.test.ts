// A machine under `relup run` says so in its record (what its supervisor put in its environment),
// so a cold publish waits only for machines a cold release reaches. Real processes on fs storage.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir, writeRelease } from './helpers.js'
import { fixture, machineRecord, processBackends, runNode } from './processes.js'

const [, fs] = processBackends[0]!
/** Unset in the child, whatever this process has. */
const unsupervised = { RELUP_SUPERVISOR: '', RELUP_COLD_APP: '', RELUP_COLD_RELEASE: '' }

async function machine(id: string, env: Record<string, string>) {
  const { storage, env: storageEnv } = await fs()
  const run = runNode(fixture('server.mjs'), {
    ...storageEnv,
    ...unsupervised,
    RELUP_TEST_BASE_DIR: await writeRelease(await tempDir(), 'base'),
    RELUP_MACHINE_ID: id,
    RELUP_STATE_DIR: join(await tempDir('state'), id),
    ...env,
  })
  await run.waitForLine((line) => line.ready === true, `${id} started`)
  const record = await machineRecord(storage, id)
  await run.stop()
  return record
}

describe('the machine record says whether the machine runs under relup run', () => {
  it('under relup run --app shop, started from a cold release: it follows cold releases, and which it runs', async () => {
    const record = await machine('m-cold', {
      RELUP_SUPERVISOR: '1',
      RELUP_COLD_APP: 'shop',
      RELUP_COLD_RELEASE: '01M8SQ3JGF12F2NQE9T60APKJA',
    })
    expect(record?.supervised).toEqual({
      followsColdReleases: true,
      coldReleaseId: '01M8SQ3JGF12F2NQE9T60APKJA',
    })
  })

  it('under relup run without --app (or following another app): supervised, not following cold releases', async () => {
    expect((await machine('m-run', { RELUP_SUPERVISOR: '1' }))?.supervised).toEqual({
      followsColdReleases: false,
      coldReleaseId: null,
    })
    expect(
      (await machine('m-other', { RELUP_SUPERVISOR: '1', RELUP_COLD_APP: 'chat' }))?.supervised
        ?.followsColdReleases,
    ).toBe(false)
  })

  it('under no supervisor: null', async () => {
    expect((await machine('m-plain', {}))?.supervised).toBeNull()
  })
})
