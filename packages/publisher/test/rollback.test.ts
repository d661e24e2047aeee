import { createHash } from 'node:crypto'
import { generateSigningKeyPair, verifyHotUpgrade } from '@relup/artifact'
import { type HotUpgrade, initialPointer, type Storage, withHotUpgrade, writeDocument } from '@relup/core'
import { describe, expect, it } from 'vitest'
import {
  ArtifactCorruptError,
  NothingToRollBackError,
  publish,
  publishHistory,
  rollback,
} from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  countingLists,
  freshStorage,
  hotDir,
  hotUpgrade,
  keys,
  pointerOf,
  simulateMachines,
} from './helpers.js'

async function publishVersions(storage: Storage, versions: string[], sign?: string): Promise<HotUpgrade[]> {
  const published: HotUpgrade[] = []
  for (const version of versions) {
    const outcome = await publish({
      storage,
      app: APP,
      dir: await hotDir(version),
      version,
      wait: false,
      sign,
    })
    published.push(outcome.upgrade)
  }
  return published
}

/** A store whose history holds `upgrades` (oldest first) and whose pointer runs the last one. */
async function storeRunning(storage: Storage, upgrades: HotUpgrade[]): Promise<void> {
  for (const hot of upgrades) await writeDocument(storage, keys.history(hot.upgradeId), hot)
  const first = initialPointer(APP, 'image-1', { setBy: 'machine:test' })
  await writeDocument(storage, keys.current, withHotUpgrade(first, upgrades.at(-1)!, { setBy: 'test' }))
}

describe('rollback', () => {
  it('points back at the previous version under a new upgrade id and publish time, with its content', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const [v1, v2, v3] = await publishVersions(storage, ['v1', 'v2', 'v3'])
    const outcome = await rollback({ storage, app: APP, wait: false })
    const hot = (await pointerOf(storage)).hot!
    expect(outcome.upgrade).toEqual(hot)
    expect(outcome.artifactReused).toBe(true)
    expect(hot).toMatchObject({
      version: 'v2',
      sourceRef: v2!.sourceRef,
      baseRef: v2!.baseRef,
      artifact: v2!.artifact,
      manifest: v2!.manifest,
    })
    expect(hot.upgradeId > v3!.upgradeId).toBe(true)
    expect(Date.parse(hot.publishedAt)).toBeGreaterThanOrEqual(Date.parse(v3!.publishedAt))
    // The rollback is itself recorded, so a second rollback goes further back.
    expect((await publishHistory(storage, APP)).at(-1)).toEqual(hot)
    await rollback({ storage, app: APP, wait: false, to: 'v1' })
    expect((await pointerOf(storage)).hot?.artifact).toEqual(v1!.artifact)
  })

  it('an unknown --to lists the versions it knows', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await publishVersions(storage, ['v1', 'v2'])
    const error = await rollback({ storage, app: APP, to: 'v9' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NothingToRollBackError)
    expect((error as Error).message).toMatch(/no published version v9 .*known versions: v1, v2/)
  })

  it('with nothing published says there is nothing to roll back', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await expect(rollback({ storage, app: APP })).rejects.toThrow(
      /runs no hot upgrade: there is nothing to roll back/,
    )
  })

  it('says so when the artifact of the target is gone, and moves nothing', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const [v1, v2] = await publishVersions(storage, ['v1', 'v2'])
    await storage.delete(v1!.artifact.key)
    await expect(rollback({ storage, app: APP })).rejects.toThrow(/artifact of v1 .* is no longer in storage/)
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(v2!.upgradeId)
  })

  it('signs the rollback again with the key given, and drops the old signature without one', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const old = generateSigningKeyPair()
    const rotated = generateSigningKeyPair()
    await publishVersions(storage, ['v1', 'v2'], old.privateKey)
    await rollback({ storage, app: APP, wait: false, sign: rotated.privateKey })
    const signed = (await pointerOf(storage)).hot!
    expect(signed.version).toBe('v1')
    expect(verifyHotUpgrade(signed, [rotated.publicKey])).toBe(rotated.keyId)
    await rollback({ storage, app: APP, wait: false, to: 'v2' })
    expect((await pointerOf(storage)).hot?.signature).toBeUndefined()
  })

  it('waits for the machines like publish does', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    simulateMachines(storage, { m1: 'complete' })
    await publishVersions(storage, ['v1', 'v2'])
    const outcome = await rollback({ storage, app: APP, timeoutMs: 5000 })
    expect(outcome.ok).toBe(true)
    expect(outcome.outcomes).toMatchObject([{ machineId: 'm1', status: 'completed' }])
  })

  it('--to reads only the target’s artifact (verifying it), never the listing of every artifact', async () => {
    const { storage, listCalls } = countingLists(freshStorage(), 2)
    const sha256 = createHash('sha256').update('tgz').digest('hex')
    const v1 = hotUpgrade(
      { version: 'v1', artifact: { key: keys.artifact('v1', sha256), sha256, size: 3 } },
      new Date('2026-01-01T00:00:00Z'),
    )
    const v9 = hotUpgrade(
      {
        version: 'v9',
        artifact: { key: keys.artifact('v9', 'b'.repeat(64)), sha256: 'b'.repeat(64), size: 3 },
      },
      new Date('2026-01-02T00:00:00Z'),
    )
    await storeRunning(storage, [v1, v9])
    await storage.put(v1.artifact.key, 'tgz')
    for (let i = 0; i < 10; i++) await storage.put(keys.artifact(`w${i}`, 'c'.repeat(64)), 'tgz')
    await rollback({ storage, app: APP, to: 'v1', wait: false })
    expect((await pointerOf(storage)).hot?.artifact).toEqual(v1.artifact)
    expect(listCalls(keys.artifactsPrefix)).toBe(0)
  })

  it('--to base points the fleet at its base code and waits for the machines running hot code to go back', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const [, v2] = await publishVersions(storage, ['v1', 'v2'])
    const hotFields = { version: 'v2', upgradeId: v2!.upgradeId, hotRef: v2!.sourceRef, pollIntervalMs: 50 }
    await announceMachine(storage, 'm1', 'image-1', hotFields)
    await announceMachine(storage, 'm2')
    const before = await pointerOf(storage)
    // m1 does what a running machine does: swaps its base release back in and says so in its record.
    const answered = (async () => {
      while ((await pointerOf(storage)).hot !== null) await new Promise((resolve) => setTimeout(resolve, 20))
      await announceMachine(storage, 'm1', 'image-1', {
        lastResult: {
          upgradeId: 'base',
          version: 'base',
          status: 'completed',
          at: new Date().toISOString(),
          error: null,
        },
      })
    })()
    const outcome = await rollback({ storage, app: APP, to: 'base', pollMs: 20 })
    await answered
    expect(outcome).toMatchObject({ ok: true, upgrade: null, baseRef: 'image-1', waited: true })
    expect(outcome.outcomes.map((o) => [o.machineId, o.status])).toEqual([['m1', 'completed']])
    expect(await pointerOf(storage)).toMatchObject({
      baseRef: 'image-1',
      hot: null,
      seq: before.seq + 1,
      lineage: before.lineage,
    })
    await expect(rollback({ storage, app: APP, to: 'base' })).rejects.toThrow(
      /already runs the base code of image-1: nothing to roll back/,
    )
    // From the base code, --to goes to a published version again.
    await rollback({ storage, app: APP, to: 'v1', wait: false })
    expect((await pointerOf(storage)).hot?.version).toBe('v1')
  })

  it('--to base reports a machine that could not go back, and counts a silent one absent', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const [, v2] = await publishVersions(storage, ['v1', 'v2'])
    const hotFields = { version: 'v2', upgradeId: v2!.upgradeId, hotRef: v2!.sourceRef, pollIntervalMs: 50 }
    await announceMachine(storage, 'm1', 'image-1', hotFields)
    await announceMachine(storage, 'm2', 'image-1', hotFields)
    const answered = (async () => {
      while ((await pointerOf(storage)).hot !== null) await new Promise((resolve) => setTimeout(resolve, 20))
      await announceMachine(storage, 'm1', 'image-1', {
        ...hotFields,
        lastResult: {
          upgradeId: 'base',
          version: 'base',
          status: 'failed',
          at: new Date().toISOString(),
          error: 'codeChange threw',
        },
      })
    })()
    const outcome = await rollback({
      storage,
      app: APP,
      to: 'base',
      pollMs: 20,
      ackTimeoutMs: 200,
      timeoutMs: 5000,
    })
    await answered
    expect(outcome.ok).toBe(false)
    expect(outcome.outcomes.map((o) => [o.machineId, o.status])).toEqual([
      ['m1', 'failed'],
      ['m2', 'absent'],
    ])
    expect(outcome.outcomes[0]?.result?.error?.message).toBe('codeChange threw')
  })

  it('refuses to roll back to the version already live, and moves nothing', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const [, v2] = await publishVersions(storage, ['v1', 'v2'])
    const error = await rollback({ storage, app: APP, to: 'v2' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NothingToRollBackError)
    expect((error as Error).message).toMatch(
      /^v2 is already live \(upgrade [0-9A-Z]{26}, published .*\): nothing to roll back/,
    )
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(v2!.upgradeId)
  })

  it('refuses a target whose artifact is corrupt in storage, saying to publish that version again', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const [v1, v2] = await publishVersions(storage, ['v1', 'v2'])
    await storage.put(v1!.artifact.key, 'these are not the bytes that were published')
    const error = await rollback({ storage, app: APP, to: 'v1' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ArtifactCorruptError)
    expect((error as Error).message).toMatch(
      /artifact of v1 \(.*\) is corrupt in storage \(sha256 [0-9a-f]{12}…, 43 bytes; expected [0-9a-f]{12}…, \d+ bytes\).*Publish v1 again/,
    )
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(v2!.upgradeId)
    // Publishing the same build again replaces the corrupt object; the rollback then works.
    await publish({ storage, app: APP, dir: await hotDir('v1'), version: 'v1', wait: false })
    await rollback({ storage, app: APP, to: 'v2', wait: false })
    await expect(rollback({ storage, app: APP, to: 'v1', wait: false })).resolves.toMatchObject({ ok: true })
  })
})
