import { readFile } from 'node:fs/promises'
import { verifyHotUpgrade } from '@relup/artifact'
import { parseLock, readDocument } from '@relup/core'
import { openStorage } from '@relup/publisher'
import { describe, expect, it } from 'vitest'
import {
  announceMachine,
  bootPointer,
  cli,
  freshMemoryUrl,
  hotDir,
  keys,
  pointerOf,
  simulateMachines,
  tempDir,
} from './helpers.js'

describe('relup publish', () => {
  it('without a pointer and without --base-ref says what to pass (exit 2)', async () => {
    const url = freshMemoryUrl()
    const result = await cli(['publish', await hotDir('v1'), '--app', 'chat', '--storage', url])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/no machine of chat has booted.*pass --base-ref/)
  })

  it('without a directory, or with a bad --timeout or --expect, is a usage error (exit 2)', async () => {
    const url = freshMemoryUrl()
    const dir = await hotDir('v1')
    const missing = await cli(['publish', '--app', 'chat', '--storage', url])
    expect([missing.code, missing.stderr]).toEqual([
      2,
      expect.stringMatching(/needs the directory to publish/),
    ])
    const timeout = await cli(['publish', dir, '--app', 'chat', '--storage', url, '--timeout', 'soon'])
    expect([timeout.code, timeout.stderr]).toEqual([2, expect.stringMatching(/--timeout takes a duration/)])
    const expectFlag = await cli(['publish', dir, '--app', 'chat', '--storage', url, '--expect', '1.5'])
    expect([expectFlag.code, expectFlag.stderr]).toEqual([
      2,
      expect.stringMatching(/--expect takes a whole number/),
    ])
  })

  it('--no-wait moves the pointer to the version given, says so and exits 0', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--version',
      'v2',
      '--source-ref',
      'abc123',
      '--no-wait',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/published v2 \(upgrade [0-9A-Z]{26}\) on base image-1/)
    expect(result.stdout).toMatch(/not waiting for machines \(--no-wait\); follow with `relup status`/)
    expect((await pointerOf(storage)).hot).toMatchObject({ version: 'v2', sourceRef: 'abc123' })
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })

  it('--json says whether the artifact was reused, and gives the artifact and upgrade id', async () => {
    const url = freshMemoryUrl()
    await bootPointer(await openStorage(url))
    const dir = await hotDir('v2')
    const argv = ['publish', dir, '--app', 'chat', '--storage', url, '--version', 'v2', '--no-wait', '--json']
    const [a, b] = [JSON.parse((await cli(argv)).stdout), JSON.parse((await cli(argv)).stdout)]
    expect(a).toMatchObject({ ok: true, version: 'v2', artifactReused: false, signed: false, waited: false })
    expect(b.artifactReused).toBe(true)
    expect(b.artifact).toEqual(a.artifact)
    expect(b.upgradeId).not.toBe(a.upgradeId)
  })

  it('waits for every recent machine on the base, prints the table and exits 0 when all completed', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    await announceMachine(storage, 'm2')
    await announceMachine(storage, 'gone', 'image-1', {
      updatedAt: new Date(Date.now() - 3_600_000).toISOString(),
    })
    simulateMachines(storage, { m1: 'complete', m2: 'complete' })
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--timeout',
      '5s',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/MACHINE\s+REGION\s+STATUS\s+MODULES\s+PAUSE MS\s+TOTAL MS\s+ERROR/)
    expect(result.stdout).toMatch(/m1\s+ams\s+completed\s+1\s+0\.20\s+12/)
    expect(result.stdout).toMatch(/m2\s+ams\s+completed/)
    expect(result.stdout).not.toMatch(/gone|degraded/)
    expect(result.stdout).toMatch(/all 2 machine\(s\) upgraded in [\d.]+ s\n$/)
  })

  it('a failed machine and a silent one make it exit 1, with the error and the timeout listed', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    for (const id of ['ok', 'broken', 'silent', 'stuck']) await announceMachine(storage, id)
    simulateMachines(storage, { ok: 'complete', broken: 'fail', silent: 'silent', stuck: 'stuck' })
    // Four live machines would get the default staged rollout: this is about waiting for all at once.
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--timeout',
      '1s',
      '--all-at-once',
      '--json',
    ])
    expect(result.code).toBe(1)
    const report = JSON.parse(result.stdout)
    expect(report.ok).toBe(false)
    const byId = Object.fromEntries(report.machines.map((m: { machineId: string }) => [m.machineId, m]))
    expect(byId.ok.status).toBe('completed')
    expect(byId.broken).toMatchObject({ status: 'failed', error: 'broken could not evaluate handler.js' })
    expect(byId.silent.status).toBe('timed-out')
    expect(byId.stuck.status).toBe('timed-out')
  })

  it('a machine that completed degraded is shown as such with its dispose error; the exit code stays 0', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'clean')
    await announceMachine(storage, 'leaky')
    simulateMachines(storage, { clean: 'complete', leaky: 'degraded' })
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--timeout',
      '5s',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/clean\s+ams\s+completed\s+1\s/)
    expect(result.stdout).toMatch(
      /leaky\s+ams\s+completed \(degraded\)\s+1\s+0\.20\s+12\s+counter@v1 failed to dispose: socket still open/,
    )
    const last = result.stdout.trimEnd().split('\n').at(-1)!
    expect(last).toMatch(
      /^all 2 machine\(s\) upgraded in [\d.]+ s, 1 of them degraded .*restart it when convenient$/,
    )
  })

  it('--json carries degraded and disposeErrors for every machine', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'clean')
    await announceMachine(storage, 'leaky')
    simulateMachines(storage, { clean: 'complete', leaky: 'degraded' })
    const result = await cli(['publish', await hotDir('v2'), '--app', 'chat', '--storage', url, '--json'])
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({ ok: true, degraded: 1 })
    expect(report.machines).toMatchObject([
      { machineId: 'clean', status: 'completed', degraded: false, disposeErrors: [] },
      {
        machineId: 'leaky',
        status: 'completed',
        degraded: true,
        disposeErrors: [{ unit: 'counter', version: 'v1', message: 'socket still open' }],
      },
    ])
  })

  it('--expect n waits for exactly n machines and counts the ones that never answered', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    simulateMachines(storage, { a: 'complete' })
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--expect',
      '2',
      '--timeout',
      '800ms',
    ])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/a\s+ams\s+completed/)
    expect(result.stdout).toMatch(/1 expected machine\(s\) never answered/)
    expect(result.stdout).toMatch(/1 of 2 machine\(s\) upgraded in [\d.]+ s; 1 timed out \(exit code 1\)/)
  })

  it('--sign signs the hot upgrade with a key made by relup keygen', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const dir = await tempDir('keys')
    expect((await cli(['keygen', '--out', 'ci'], {}, dir)).code).toBe(0)
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--no-wait',
      '--sign',
      `${dir}/ci.key`,
    ])
    expect(result.code, result.stderr).toBe(0)
    const hot = (await pointerOf(storage)).hot!
    expect(verifyHotUpgrade(hot, [await readFile(`${dir}/ci.pub`, 'utf8')])).toBe(hot.signature?.keyId)
    const missingKey = await cli([
      'publish',
      await hotDir('v3'),
      '--app',
      'chat',
      '--storage',
      url,
      '--sign',
      `${dir}/nope.key`,
    ])
    expect([missingKey.code, missingKey.stderr]).toEqual([
      2,
      expect.stringMatching(/cannot read the key file/),
    ])
  })

  it('refuses a storage that cannot do conditional writes (exit 1)', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    ;(storage as { capabilities: object }).capabilities = { ...storage.capabilities, compareAndSwap: false }
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--base-ref',
      'x',
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/does not support compareAndSwap.*relup doctor/)
  })
})

describe('the deploy lock', () => {
  it('a held lock exits 3 saying who holds it and how to override; --force takes over with a warning', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    const now = new Date()
    await storage.put(
      keys.lock,
      JSON.stringify({
        schema: 1,
        owner: 'alice@laptop',
        token: 'aaaaaaaaaaaaaaaaaaaa',
        purpose: 'publish v7',
        acquiredAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 600_000).toISOString(),
      }),
    )
    const held = await cli(['publish', await hotDir('v2'), '--app', 'chat', '--storage', url, '--no-wait'])
    expect(held.code).toBe(3)
    expect(held.stderr).toMatch(
      /held by alice@laptop since .* \(publish v7\).*relup unlock --app chat.*--force/,
    )
    const forced = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--no-wait',
      '--force',
    ])
    expect(forced.code).toBe(0)
    expect(forced.stderr).toMatch(/warning: took over the lock held by alice@laptop/)
  })

  it('two publishes started at the same moment: one exits 0, the other 3', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    simulateMachines(storage, { m1: 'complete' })
    const argv = async (version: string) => [
      'publish',
      await hotDir(version),
      '--app',
      'chat',
      '--storage',
      url,
      '--version',
      version,
      '--timeout',
      '3s',
    ]
    const [a, b] = await Promise.all([cli(await argv('va')), cli(await argv('vb'))])
    expect([a.code, b.code].sort()).toEqual([0, 3])
    expect((a.code === 3 ? a : b).stderr).toMatch(/the deploy lock of chat is held by/)
  })

  it('relup unlock removes a stale lock and says whose it was', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await storage.put(
      keys.lock,
      JSON.stringify({
        schema: 1,
        owner: 'bob@ci',
        token: 'cccccccccccccccccccc',
        purpose: 'publish v3',
        acquiredAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2099-01-01T00:00:00.000Z',
      }),
    )
    const result = await cli(['unlock', '--app', 'chat', '--storage', url])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(
      /removed the lock held by bob@ci since 2026-01-01T00:00:00.000Z \(publish v3\)/,
    )
    expect((await readDocument(storage, keys.lock, parseLock)).status).toBe('not-found')
    const again = await cli(['unlock', '--app', 'chat', '--storage', url, '--json'])
    expect(JSON.parse(again.stdout)).toEqual({
      ok: true,
      removed: false,
      lock: null,
      replacedLock: null,
      warnings: [],
    })
    expect((await cli(['unlock', '--app', 'chat', '--storage', url])).stdout).toMatch(/the lock is free/)
  })
})
