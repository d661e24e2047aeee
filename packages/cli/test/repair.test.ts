import { join } from 'node:path'
import type { Storage } from '@relup/core'
import { openStorage } from '@relup/publisher'
import { s3rverEnv, startS3rver } from '@relup/testkit'
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

const GARBAGE = 'garbage{{{ not json'

interface Store {
  url: string
  env: NodeJS.ProcessEnv
  storage: Storage
}

const stores: [string, () => Promise<Store>][] = [
  [
    'file://',
    async () => {
      const url = `file://${join(await tempDir('repair'), 'store')}`
      const storage = await openStorage(url)
      onCleanup(async () => storage.close?.())
      return { url, env: {}, storage }
    },
  ],
  [
    's3rver',
    async () => {
      const server = await startS3rver()
      onCleanup(() => server.stop())
      await server.createBucket('repair')
      const env = s3rverEnv(server, 'repair')
      const storage = await openStorage('s3://repair', { env })
      onCleanup(async () => storage.close?.())
      return { url: 's3://repair', env, storage }
    },
  ],
]

describe.each(stores)('a corrupt or deleted pointer, on %s', (_, open) => {
  it('every command points to `relup repair --app chat`, which rewrites it; status shows it meanwhile', async () => {
    const { url, env, storage } = await open()
    const run = (...argv: string[]) => cli([...argv, '--app', APP, '--storage', url], env)
    await bootPointer(storage)
    for (const v of ['v1', 'v2'])
      expect((await run('publish', await hotDir(v), '--version', v, '--no-wait')).code).toBe(0)
    const v2 = (await pointerOf(storage)).hot!
    await announceMachine(storage, 'm1', 'image-1', {
      version: 'v2',
      upgradeId: v2.upgradeId,
      hotRef: v2.sourceRef,
    })
    await storage.put(keys.current, GARBAGE)

    const status = await run('status')
    expect(status.code).toBe(1)
    expect(status.stdout).toMatch(
      /pointer {2}CORRUPT: relup\/chat\/current\.json .* malformed.*`relup repair --app chat`/,
    )
    expect(status.stdout).toMatch(/m1\s+ams\s+v2/)
    expect(status.stdout).toMatch(/needs attention: the pointer is corrupt \(exit code 1\)/)
    const dir = await hotDir('v3')
    for (const argv of [['publish', dir], ['publish', dir, '--base-ref', 'image-1'], ['rollback']]) {
      const failed = await run(...argv)
      expect(failed.code).toBe(1)
      expect(failed.stderr).toMatch(
        /error: relup\/chat\/current\.json .* malformed.*`relup repair --app chat`/,
      )
    }

    const dry = await run('repair', '--dry-run')
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/would write a new pointer .*hot v2/)
    expect(dry.stdout).toMatch(/dry run: nothing was written/)
    const repaired = await run('repair')
    expect(repaired.code, repaired.stderr).toBe(0)
    expect(repaired.stdout).toMatch(/relup\/chat\/current\.json was corrupt: /)
    expect(repaired.stdout).toMatch(
      /wrote a new pointer \(lineage [\w-]+\): base image-1 \(the base the live machines run\), hot v2 \(upgrade [0-9A-Z]{26}/,
    )
    expect(repaired.stdout).toMatch(/m1\s+image-1\s+v2\s+keeps what it runs/)
    expect((await pointerOf(storage)).hot).toEqual(v2)
    expect((await run('status')).code).toBe(0)
    const again = await run('repair')
    expect([again.code, again.stdout]).toEqual([
      0,
      expect.stringMatching(/the pointer is valid .*nothing to repair/),
    ])

    await storage.delete(keys.current)
    const recreated = JSON.parse((await run('repair', '--json')).stdout)
    expect(recreated).toMatchObject({
      ok: true,
      status: 'repaired',
      found: 'missing',
      warnings: [],
      replacedLock: null,
    })
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(v2.upgradeId)
  }, 60_000)
})

describe('relup repair', () => {
  it('--to base and --base-ref; live machines on several bases need --base-ref (exit 2)', async () => {
    const [[, open]] = stores as [[string, () => Promise<Store>]]
    const { url, storage } = await open()
    const run = (...argv: string[]) => cli([...argv, '--app', APP, '--storage', url])
    await announceMachine(storage, 'a', 'image-1')
    await announceMachine(storage, 'b', 'image-2')
    const ambiguous = await run('repair')
    expect(ambiguous.code).toBe(2)
    expect(ambiguous.stderr).toMatch(
      /live machines run several bases: image-1 \(1 machine\), image-2 \(1 machine\); pass --base-ref/,
    )
    const chosen = await run('repair', '--base-ref', 'image-2', '--to', 'base')
    expect(chosen.code).toBe(0)
    expect(chosen.stdout).toMatch(/no hot upgrade \(the base code\)/)
    expect(chosen.stdout).toMatch(/a\s+image-1\s+base\s+ignores it \(another base\)/)
    expect(await pointerOf(storage)).toMatchObject({
      baseRef: 'image-2',
      previousBases: ['image-1'],
      hot: null,
    })
  })
})
