import { join } from 'node:path'
import { listAll, type Storage } from '@relup/core'
import { acquireLock, openStorage } from '@relup/publisher'
import { describe, expect, it } from 'vitest'
import {
  APP,
  announceMachine,
  bootPointer,
  cli,
  hotDir,
  keys,
  onCleanup,
  pointerOf,
  tempDir,
} from './helpers.js'

async function count(storage: Storage, prefix: string): Promise<number> {
  let n = 0
  for await (const _ of listAll(storage, prefix)) n++
  return n
}

async function fileStore() {
  const url = `file://${join(await tempDir('gc'), 'store')}`
  const storage = await openStorage(url)
  onCleanup(async () => storage.close?.())
  const run = (...argv: string[]) => cli([...argv, '--app', APP, '--storage', url])
  return { storage, run }
}

describe('relup gc', () => {
  it('--dry-run lists what it would delete and deletes nothing; then gc deletes exactly that', async () => {
    const { storage, run } = await fileStore()
    await bootPointer(storage)
    for (let i = 1; i <= 6; i++)
      expect(
        (await run('publish', await hotDir(`v${i}`), '--version', `v${i}`, '--no-wait', '--no-gc')).code,
      ).toBe(0)
    const before = await count(storage, keys.prefix)
    const dry = await run('gc', '--keep', '2', '--dry-run')
    expect(dry.code).toBe(0)
    const wouldDelete = dry.stdout.split('\n').filter((line) => line.startsWith('would delete '))
    // v1..v4: history entry and artifact each (v5 and v6 are the last 2; v5 is also what rollback goes back to).
    expect(wouldDelete).toHaveLength(8)
    expect(dry.stdout).toMatch(/kept v5 \(upgrade \w+\): recent, rollback/)
    expect(dry.stdout).toMatch(/dry run: would delete 4 history entries, 0 result\(s\), 4 artifact\(s\)/)
    expect(await count(storage, keys.prefix)).toBe(before)

    const done = await run('gc', '--keep', '2', '--json')
    expect(done.code).toBe(0)
    const data = JSON.parse(done.stdout) as {
      ok: boolean
      deleted: { history: string[]; artifacts: string[] }
    }
    expect(data.ok).toBe(true)
    expect(
      [...data.deleted.history, ...data.deleted.artifacts].map((k) => `would delete ${k}`).sort(),
    ).toEqual(wouldDelete.sort())
    expect(await count(storage, keys.historyPrefix)).toBe(2)
    expect((await run('rollback', '--no-wait')).code).toBe(0)
    expect((await pointerOf(storage)).hot?.version).toBe('v5')
  })

  it('a held deploy lock is exit 3, naming its holder; --keep 0 is a usage error', async () => {
    const { storage, run } = await fileStore()
    await bootPointer(storage)
    for (let i = 1; i <= 3; i++)
      expect(
        (await run('publish', await hotDir(`v${i}`), '--version', `v${i}`, '--no-wait', '--no-gc')).code,
      ).toBe(0)
    expect((await run('gc', '--keep', '0')).code).toBe(2)
    await acquireLock(storage, keys, { app: APP, purpose: 'publish v9', ttlMs: 60_000, force: false })
    const held = await run('gc')
    expect(held.code).toBe(3)
    expect(held.stderr).toMatch(/deploy lock of chat is held .*\(publish v9\)/)
  })

  it('removes the records of machines silent for --machine-retention (default 7d); under an hour is exit 2', async () => {
    const { storage, run } = await fileStore()
    await bootPointer(storage)
    const ago = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString()
    await announceMachine(storage, 'live')
    await announceMachine(storage, 'two-days', 'image-1', { updatedAt: ago(48), stoppedAt: ago(48) })
    await announceMachine(storage, 'ten-days', 'image-1', { updatedAt: ago(240) })
    const dry = await run('gc', '--dry-run')
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain(`would delete ${keys.machine('ten-days')}`)
    expect(dry.stdout).toMatch(/1 record\(s\) of machines gone/)
    expect((await run('gc', '--machine-retention', '1d')).code).toBe(0)
    expect(await count(storage, keys.machinesPrefix)).toBe(1)
    const short = await run('gc', '--machine-retention', '30m')
    expect([short.code, short.stderr]).toEqual([2, expect.stringMatching(/at least an hour/)])
  })
})
