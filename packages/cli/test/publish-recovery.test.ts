import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { initialPointer, resetPointer, writeDocument } from '@relup/core'
import { openStorage } from '@relup/publisher'
import { describe, expect, it } from 'vitest'
import {
  APP,
  announceMachine,
  bootPointer,
  cli,
  freshMemoryUrl,
  hotDir,
  keys,
  simulateMachines,
  tempDir,
} from './helpers.js'

const publishArgs = async (url: string, ...extra: string[]) => [
  'publish',
  await hotDir('v2'),
  '--app',
  APP,
  '--storage',
  url,
  '--version',
  'v2',
  ...extra,
]

describe('relup publish refuses what cannot work (exit 2)', () => {
  it('--timeout 0s (and --ack-timeout 0) are refused before anything moves', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    for (const flag of ['--timeout', '--ack-timeout']) {
      const result = await cli(await publishArgs(url, flag, '0s'))
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(
        new RegExp(`${flag} must be longer than 0, got "0s" \\(to return without waiting, use --no-wait\\)`),
      )
    }
    expect((await storage.get(keys.lock)).status).toBe('not-found')
    expect((await cli(['status', '--app', APP, '--storage', url, '--json'])).stdout).toMatch(/"hot": null/)
  })

  it('a directory that does not exist, or a plain file', async () => {
    const url = freshMemoryUrl()
    await bootPointer(await openStorage(url))
    const dir = await tempDir('not-a-dir')
    await writeFile(join(dir, 'server.js'), 'x')
    const missing = await cli(['publish', join(dir, 'dist'), '--app', APP, '--storage', url])
    expect([missing.code, missing.stderr]).toEqual([
      2,
      expect.stringMatching(/dist does not exist: publish takes the directory/),
    ])
    const file = await cli(['publish', join(dir, 'server.js'), '--app', APP, '--storage', url])
    expect([file.code, file.stderr]).toEqual([
      2,
      expect.stringMatching(/server\.js is a file, not a directory/),
    ])
  })
})

describe('relup publish --json', () => {
  it('carries every warning and the lock it took over (who, since when, why)', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const lock = (fields: object) =>
      storage.put(
        keys.lock,
        JSON.stringify({
          schema: 1,
          owner: 'alice@laptop',
          token: 'aaaaaaaaaaaaaaaaaaaa',
          purpose: 'publish v7',
          acquiredAt: '2026-01-01T00:00:00.000Z',
          expiresAt: '2099-01-01T00:00:00.000Z',
          ...fields,
        }),
      )
    await lock({})
    const forced = JSON.parse((await cli(await publishArgs(url, '--no-wait', '--force', '--json'))).stdout)
    expect(forced.replacedLock).toEqual({
      owner: 'alice@laptop',
      purpose: 'publish v7',
      acquiredAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2099-01-01T00:00:00.000Z',
      reason: 'forced',
    })
    expect(forced.warnings).toEqual([
      expect.stringMatching(/^took over the lock held by alice@laptop since .*: --force$/),
    ])
    await lock({ expiresAt: '2026-01-01T00:10:00.000Z' })
    const expired = JSON.parse((await cli(await publishArgs(url, '--no-wait', '--json'))).stdout)
    expect(expired.replacedLock).toMatchObject({ owner: 'alice@laptop', reason: 'expired' })
    expect(expired.warnings).toEqual([expect.stringMatching(/it expired at 2026-01-01T00:10:00.000Z$/)])
    const clean = JSON.parse((await cli(await publishArgs(url, '--no-wait', '--json'))).stdout)
    expect(clean).toMatchObject({ replacedLock: null, warnings: [] })
    // A takeover followed by a failure: the error document still carries the warning.
    await lock({ expiresAt: '2026-01-01T00:10:00.000Z' })
    await storage.put(keys.current, 'garbage{{{ not json')
    const failed = await cli(await publishArgs(url, '--base-ref', 'image-1', '--no-wait', '--json'))
    expect(failed.code).toBe(1)
    expect(JSON.parse(failed.stdout)).toEqual({
      ok: false,
      error: expect.stringMatching(/current\.json .* malformed.*relup repair --app chat/),
      warnings: [expect.stringMatching(/^took over the lock held by alice@laptop .*it expired/)],
    })
  })
})

describe('machines a publish did not reach', () => {
  it('live machines on other bases: listed, exit 1, and the last line never says "all"', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    const first = initialPointer(APP, 'image-1', { setBy: 'machine:m1' })
    await writeDocument(storage, keys.current, resetPointer(first, 'image-1-typo', { setBy: 'machine:typo' }))
    for (const id of ['m1', 'm2', 'm3', 'm4']) await announceMachine(storage, id, 'image-1')
    await announceMachine(storage, 'typo', 'image-1-typo')
    simulateMachines(storage, { typo: 'complete' })
    const result = await cli(await publishArgs(url, '--timeout', '5s'))
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/typo\s+ams\s+completed/)
    expect(result.stdout).toMatch(/left out: m1 runs base image-1 \(base code\), seen \d+s ago/)
    expect(result.stdout).not.toMatch(/all 1 machine/)
    expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(
      /^1 of 1 machine\(s\) upgraded in [\d.]+ s; 4 live machine\(s\) on other bases left out \(exit code 1\)$/,
    )
    expect(result.stderr).toMatch(/warning: 4 live machine\(s\) of chat run another base than image-1-typo/)
    const json = JSON.parse((await cli(await publishArgs(url, '--timeout', '5s', '--json'))).stdout)
    expect(json.ok).toBe(false)
    expect(json.otherBaseMachines.map((m: { machineId: string }) => m.machineId)).toEqual([
      'm1',
      'm2',
      'm3',
      'm4',
    ])
    expect((await cli(await publishArgs(url, '--timeout', '5s', '--allow-other-bases'))).code).toBe(0)
  })

  it('a machine that never acknowledges is shown absent with when it was last seen, at the grace, not the timeout', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'alive', 'image-1', { pollIntervalMs: 100 })
    await announceMachine(storage, 'dead', 'image-1', { pollIntervalMs: 100 })
    simulateMachines(storage, { alive: 'complete' })
    const started = Date.now()
    const result = await cli(await publishArgs(url, '--timeout', '60s', '--ack-timeout', '1s'))
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/dead\s+ams\s+absent \(last seen \d+s ago\)/)
    expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(
      /^1 of 2 machine\(s\) upgraded in [\d.]+ s; 1 absent \(not waited for\) \(exit code 0\)$/,
    )
    expect(result.stderr).toMatch(/warning: dead did not acknowledge the upgrade within 1 s/)
  })
})
