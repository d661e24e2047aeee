// Item 4: a restart boots the last good release, never the base code while a good hot release
// exists. Real processes, like the fleet where it was found: v2 completes, v3 fails in its state
// migration (machines keep v2, the pointer stays on v3), then a machine dies and starts again.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { publishDirect, tempDir, writeRelease } from './helpers.js'
import { fixture, machineRecord, machineResult, processBackends, runNode } from './processes.js'

describe.each(processBackends)('a machine restarted on %s storage', (_name, backend) => {
  it('boots its last good release (v2) when the pointer’s upgrade (v3) fails, and reports v3 failed', async () => {
    const { storage, env: storageEnv } = await backend()
    const env = {
      ...storageEnv,
      RELUP_TEST_BASE_DIR: await writeRelease(await tempDir(), 'base'),
      RELUP_MACHINE_ID: 'm1',
      RELUP_STATE_DIR: join(await tempDir('state'), 'm1'),
      // No retry of v3 during the test: its startup attempt is the one that matters.
      RELUP_TEST_OPTIONS: JSON.stringify({ retryBaseDelay: 60_000 }),
    }
    const first = runNode(fixture('server.mjs'), env)
    await first.waitForLine((line) => line.ready === true, 'the first start')
    const v2 = await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })
    await first.waitForLine((line) => line.event === 'completed' && line.version === 'v2', 'v2 applied')
    const v3 = await publishDirect(
      storage,
      await writeRelease(await tempDir(), 'v3', { breakCodeChange: true }),
      { version: 'v3' },
    )
    await first.waitForLine((line) => line.event === 'failed' && line.version === 'v3', 'v3 failing')
    expect((await machineRecord(storage, 'm1'))?.version).toBe('v2')
    await first.stop('SIGKILL') // an unclean death: no stop(), the lock file left behind

    const second = runNode(fixture('server.mjs'), env)
    const ready = await second.waitForLine((line) => line.ready === true, 'the restart')
    expect(ready).toMatchObject({
      version: 'v2',
      counter: { version: 'v2' },
      vsn: { version: 'v2', upgradeId: v2.upgradeId },
    })
    expect(second.lines()).toContainEqual(
      expect.objectContaining({ event: 'failed', version: 'v3', attempt: 1, startup: true }),
    )
    expect(second.stderr()).toMatch(/booted the last good release v2/)
    expect(await machineRecord(storage, 'm1')).toMatchObject({
      version: 'v2',
      upgradeId: v2.upgradeId,
      lastResult: { upgradeId: v3.upgradeId, status: 'failed' },
    })
    expect(await machineResult(storage, v3.upgradeId, 'm1')).toMatchObject({ status: 'failed', attempt: 1 })
    expect(await second.stop()).toEqual({ code: 0, signal: null })
  })
})
