import { verifyHotUpgrade } from '@relup/artifact'
import { listAll, parseLock, readDocument } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { openStorage } from '../src/index.js'
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
  it('without a pointer and without --base-ref says what to pass', async () => {
    const url = freshMemoryUrl()
    const result = await cli(['publish', await hotDir('v1'), '--app', 'chat', '--storage', url])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/no machine of chat has booted.*pass --base-ref/)
  })

  it('--no-wait uploads the artifact, records the publish, moves the pointer and releases the lock', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
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
      '--no-wait',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/published v2 \(upgrade [0-9A-Z]{26}\) on base image-1/)
    const pointer = await pointerOf(storage)
    expect(pointer).toMatchObject({ baseRef: 'image-1', seq: 2, hot: { version: 'v2', baseRef: 'image-1' } })
    expect(pointer.hot!.artifact.key).toMatch(/^relup\/chat\/artifacts\/v2-[0-9a-f]{12}\.tgz$/)
    expect(Object.keys(pointer.hot!.manifest.files)).toEqual(['handler.js'])
    expect((await storage.get(pointer.hot!.artifact.key)).status).toBe('ok')
    expect((await storage.get(keys.history(pointer.hot!.upgradeId))).status).toBe('ok')
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })

  it('publishing the same content again is recognised, not an error', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    const dir = await hotDir('v2')
    const first = await cli([
      'publish',
      dir,
      '--app',
      'chat',
      '--storage',
      url,
      '--version',
      'v2',
      '--no-wait',
      '--json',
    ])
    const second = await cli([
      'publish',
      dir,
      '--app',
      'chat',
      '--storage',
      url,
      '--version',
      'v2',
      '--no-wait',
      '--json',
    ])
    expect(second.code).toBe(0)
    const [a, b] = [JSON.parse(first.stdout), JSON.parse(second.stdout)]
    expect(a.artifactReused).toBe(false)
    expect(b.artifactReused).toBe(true)
    expect(b.artifact).toEqual(a.artifact)
    expect(b.upgradeId).not.toBe(a.upgradeId)
    const artifacts = []
    for await (const item of listAll(storage, keys.artifactsPrefix)) artifacts.push(item.key)
    expect(artifacts).toHaveLength(1)
  })

  it('waits for every recent machine on the base and exits 0 when all completed', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    await announceMachine(storage, 'm2')
    await announceMachine(storage, 'other-base', 'image-0')
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
    expect(result.stdout).not.toMatch(/other-base|gone/)
    expect(result.stdout).toMatch(/all 2 machine\(s\) upgraded/)
  })

  it('a failed machine and a silent one make it exit 1, with the error and the timeout listed', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    for (const id of ['ok', 'broken', 'silent', 'stuck']) await announceMachine(storage, id)
    simulateMachines(storage, { ok: 'complete', broken: 'fail', silent: 'silent', stuck: 'stuck' })
    const result = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      'chat',
      '--storage',
      url,
      '--timeout',
      '1s',
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

  it('--expect n waits for exactly n machines and counts the ones that never answered', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
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
    const enough = await cli([
      'publish',
      await hotDir('v3'),
      '--app',
      'chat',
      '--storage',
      url,
      '--expect',
      '1',
      '--timeout',
      '5s',
    ])
    expect(enough.code, enough.stdout + enough.stderr).toBe(0)
  })

  it('--sign signs the hot upgrade with a key made by relup keygen', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
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
    const { readFile } = await import('node:fs/promises')
    expect(verifyHotUpgrade(hot, [await readFile(`${dir}/ci.pub`, 'utf8')])).toBe(hot.signature?.keyId)
  })

  it('refuses a storage that cannot do conditional writes', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
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
  it('a held lock says who holds it, since when, and how to override; --force takes over', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
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
    expect((await pointerOf(storage)).hot).toBeNull()

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
    expect(forced.stderr).toMatch(/took over the lock held by alice@laptop/)
    expect((await pointerOf(storage)).hot?.version).toMatch(/^hot-/)
  })

  it('an expired lock is taken over without --force', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    await storage.put(
      keys.lock,
      JSON.stringify({
        schema: 1,
        owner: 'crashed@ci',
        token: 'bbbbbbbbbbbbbbbbbbbb',
        purpose: 'publish v1',
        acquiredAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-01T00:10:00.000Z',
      }),
    )
    const result = await cli(['publish', await hotDir('v2'), '--app', 'chat', '--storage', url, '--no-wait'])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/took over the lock held by crashed@ci/)
  })

  it('two publishes started at the same moment: exactly one proceeds, the other says the lock is held', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    simulateMachines(storage, { m1: 'complete' })
    const [a, b] = await Promise.all([
      cli([
        'publish',
        await hotDir('va'),
        '--app',
        'chat',
        '--storage',
        url,
        '--version',
        'va',
        '--timeout',
        '3s',
      ]),
      cli([
        'publish',
        await hotDir('vb'),
        '--app',
        'chat',
        '--storage',
        url,
        '--version',
        'vb',
        '--timeout',
        '3s',
      ]),
    ])
    expect([a.code, b.code].sort()).toEqual([0, 3])
    const loser = a.code === 3 ? a : b
    expect(loser.stderr).toMatch(/the deploy lock of chat is held by/)
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })

  it('relup unlock removes a stale lock and says whose it was', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
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
    expect(result.stdout).toMatch(/removed the lock held by bob@ci/)
    expect((await readDocument(storage, keys.lock, parseLock)).status).toBe('not-found')
    expect((await cli(['unlock', '--app', 'chat', '--storage', url])).stdout).toMatch(/the lock is free/)
  })
})
