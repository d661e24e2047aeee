import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateSigningKeyPair, verifyHotUpgrade } from '@relup/artifact'
import { isRelupError, listAll, parseHotUpgrade, readDocument } from '@relup/core'
import { describe, expect, it } from 'vitest'
import { publish, StorageUnfitError } from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  freshStorage,
  hotDir,
  keys,
  pointerOf,
  recordingReporter,
  simulateMachines,
  tempDir,
} from './helpers.js'

describe('publish', () => {
  it('without a pointer and without a baseRef says what to pass, and writes nothing', async () => {
    const storage = freshStorage()
    const error = await publish({ storage, app: APP, dir: await hotDir('v1') }).catch((e: unknown) => e)
    expect(isRelupError(error, 'ERR_RELUP_CONFIG')).toBe(true)
    expect((error as Error).message).toMatch(/no machine of chat has booted.*pass --base-ref/)
    expect(storage.size).toBe(0)
  })

  it('uploads the artifact, records the publish, moves the pointer and releases the lock', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), version: 'v2', wait: false })
    expect(outcome).toMatchObject({ ok: true, waited: false, artifactReused: false, outcomes: [] })
    expect(outcome.upgrade.upgradeId).toMatch(/^[0-9A-Z]{26}$/)
    const pointer = await pointerOf(storage)
    expect(pointer).toMatchObject({ baseRef: 'image-1', seq: 2, hot: { version: 'v2', baseRef: 'image-1' } })
    expect(pointer.hot).toEqual(outcome.upgrade)
    expect(pointer.hot!.artifact.key).toMatch(/^relup\/chat\/artifacts\/v2-[0-9a-f]{12}\.tgz$/)
    expect(pointer.hot!.sourceRef).toBe(`sha256:${pointer.hot!.artifact.sha256}`)
    expect(Object.keys(pointer.hot!.manifest.files)).toEqual(['handler.js'])
    expect((await storage.get(pointer.hot!.artifact.key)).status).toBe('ok')
    const history = await readDocument(storage, keys.history(outcome.upgrade.upgradeId), parseHotUpgrade)
    expect(history.status === 'ok' && history.document).toEqual(outcome.upgrade)
    expect((await storage.get(keys.lock)).status).toBe('not-found')
  })

  it('with a baseRef and no pointer yet writes the first pointer, at seq 1, already on the upgrade', async () => {
    const storage = freshStorage()
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v1'),
      version: 'v1',
      baseRef: 'image-7',
      wait: false,
    })
    expect(await pointerOf(storage)).toMatchObject({
      schema: 1,
      app: APP,
      baseRef: 'image-7',
      previousBases: [],
      seq: 1,
      hot: { upgradeId: outcome.upgrade.upgradeId, baseRef: 'image-7' },
      setBy: `publisher:${outcome.upgrade.publishedBy}`,
    })
  })

  it('a baseRef other than the pointer’s moves the pointer to it, remembering the old base', async () => {
    const storage = freshStorage()
    await bootPointer(storage, 'image-1')
    await publish({ storage, app: APP, dir: await hotDir('v2'), baseRef: 'image-2', wait: false })
    expect(await pointerOf(storage)).toMatchObject({ baseRef: 'image-2', previousBases: ['image-1'] })
  })

  it('the same content published again reuses the artifact under a new upgrade id', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const dir = await hotDir('v2')
    const first = await publish({ storage, app: APP, dir, version: 'v2', wait: false })
    const { reporter, steps } = recordingReporter()
    const second = await publish({ storage, app: APP, dir, version: 'v2', wait: false, reporter })
    expect([first.artifactReused, second.artifactReused]).toEqual([false, true])
    expect(second.upgrade.artifact).toEqual(first.upgrade.artifact)
    expect(second.upgrade.upgradeId > first.upgrade.upgradeId).toBe(true)
    expect(steps).toContain('the same artifact is already in storage (verified): reusing it')
    const artifacts = []
    for await (const item of listAll(storage, keys.artifactsPrefix)) artifacts.push(item.key)
    expect(artifacts).toHaveLength(1)
  })

  it('takes the version from the directory’s package.json, else names it after the artifact', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const labelled = await publish({
      storage,
      app: APP,
      dir: await hotDir('x', { 'package.json': '{"version":"1.4.2"}' }),
      wait: false,
    })
    expect(labelled.upgrade.version).toBe('1.4.2')
    const unlabelled = await publish({ storage, app: APP, dir: await hotDir('y'), wait: false })
    expect(unlabelled.upgrade.version).toBe(`hot-${unlabelled.upgrade.artifact.sha256.slice(0, 12)}`)
  })

  it('waits for every recent machine on the base and is ok when all completed (other bases allowed)', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    await announceMachine(storage, 'm2')
    await announceMachine(storage, 'other-base', 'image-0')
    await announceMachine(storage, 'gone', 'image-1', {
      updatedAt: new Date(Date.now() - 3_600_000).toISOString(),
    })
    await announceMachine(storage, 'stopped', 'image-1', { stoppedAt: new Date().toISOString() })
    simulateMachines(storage, { m1: 'complete', m2: 'complete' })
    const { reporter, results } = recordingReporter()
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      timeoutMs: 5000,
      reporter,
      allowOtherBases: true,
    })
    expect(outcome.ok).toBe(true)
    expect(outcome.otherBaseMachines.map((m) => [m.machineId, m.baseRef])).toEqual([
      ['other-base', 'image-0'],
    ])
    expect(outcome.outcomes.map((o) => [o.machineId, o.status, o.degraded])).toEqual([
      ['m1', 'completed', false],
      ['m2', 'completed', false],
    ])
    expect(results.map((r) => r.machineId).sort()).toEqual(['m1', 'm2'])
  })

  it('a failed machine and a silent one make it not ok, with the error and the timeouts', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    for (const id of ['ok', 'broken', 'silent', 'stuck']) await announceMachine(storage, id)
    simulateMachines(storage, { ok: 'complete', broken: 'fail', silent: 'silent', stuck: 'stuck' })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 1000 })
    expect(outcome.ok).toBe(false)
    const byId = Object.fromEntries(outcome.outcomes.map((o) => [o.machineId, o]))
    expect(byId.ok?.status).toBe('completed')
    expect(byId.broken).toMatchObject({
      status: 'failed',
      result: { error: { message: 'broken could not evaluate handler.js' } },
    })
    expect(byId.silent).toMatchObject({ status: 'timed-out', result: null })
    expect(byId.stuck).toMatchObject({ status: 'timed-out', result: { status: 'pending' } })
  })

  it('a machine that completed degraded is ok but flagged, with its dispose errors', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'clean')
    await announceMachine(storage, 'leaky')
    simulateMachines(storage, { clean: 'complete', leaky: 'degraded' })
    const outcome = await publish({ storage, app: APP, dir: await hotDir('v2'), timeoutMs: 5000 })
    expect(outcome.ok).toBe(true)
    const byId = Object.fromEntries(outcome.outcomes.map((o) => [o.machineId, o]))
    expect(byId.clean).toMatchObject({ status: 'completed', degraded: false })
    expect(byId.leaky).toMatchObject({
      status: 'completed',
      degraded: true,
      result: {
        stats: { disposeErrors: [{ unit: 'counter', version: 'v1', message: 'socket still open' }] },
      },
    })
  })

  it('expect: n waits for exactly n machines and counts the ones that never answered', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    simulateMachines(storage, { a: 'complete' })
    const short = await publish({ storage, app: APP, dir: await hotDir('v2'), expect: 2, timeoutMs: 800 })
    expect(short).toMatchObject({ ok: false, missing: 1 })
    expect(short.outcomes.map((o) => o.machineId)).toEqual(['a'])
    const enough = await publish({ storage, app: APP, dir: await hotDir('v3'), expect: 1, timeoutMs: 5000 })
    expect(enough).toMatchObject({ ok: true, missing: 0 })
  })

  it('signs the hot upgrade when given a key, and the signature verifies', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const pair = generateSigningKeyPair()
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir('v2'),
      wait: false,
      sign: pair.privateKey,
    })
    const hot = (await pointerOf(storage)).hot!
    expect(hot.signature?.keyId).toBe(pair.keyId)
    expect(verifyHotUpgrade(hot, [pair.publicKey])).toBe(pair.keyId)
    expect(outcome.upgrade).toEqual(hot)
  })

  it('refuses a storage that cannot do conditional writes, before uploading anything', async () => {
    const storage = freshStorage()
    ;(storage as { capabilities: object }).capabilities = { ...storage.capabilities, compareAndSwap: false }
    const error = await publish({ storage, app: APP, dir: await hotDir('v2'), baseRef: 'x' }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StorageUnfitError)
    expect((error as Error).message).toMatch(/does not support compareAndSwap.*relup doctor/)
    expect(storage.size).toBe(0)
  })

  it('a directory that does not exist, or a plain file, is a configuration error that says so', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const dir = await tempDir('not-a-dir')
    await writeFile(join(dir, 'file.js'), 'x')
    for (const [path, message] of [
      [join(dir, 'missing'), /missing does not exist: publish takes the directory of the app's hot code/],
      [join(dir, 'file.js'), /file\.js is a file, not a directory/],
    ] as const) {
      const error = await publish({ storage, app: APP, dir: path, wait: false }).catch((e: unknown) => e)
      expect(isRelupError(error, 'ERR_RELUP_CONFIG')).toBe(true)
      expect((error as Error).message).toMatch(message)
    }
  })
})
