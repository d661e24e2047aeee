import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateSigningKeyPair, keyIdOf } from '@relup/artifact'
import { coldBaseRef, coldKey, parseColdPointer, readDocument, relupKeys, writeDocument } from '@relup/core'
import { ColdReleaseError, coldResults, publishCold, rollbackCold } from '@relup/publisher'
import { fsStorage } from '@relup/storage-fs'
import { afterEach, describe, expect, it } from 'vitest'
import { bootRelease, followColdReleases } from '../src/index.js'
import { APP, get, loadLoop, release, sleep, stopAll, supervise, until } from './helpers.js'

const packages = fileURLToPath(new URL('../..', import.meta.url))
const APP_NAME = 'shop'
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await stopAll()
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function temp(name: string) {
  const dir = await mkdtemp(join(tmpdir(), `relup-cold-${name}-`))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A built app with its production dependencies installed, as `npm ci --omit=dev` leaves it. */
async function coldBuild(version: string, { crashes = false } = {}) {
  const dir = await temp(`build-${version}`)
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'shop', version, type: 'module', dependencies: { '@relup/supervisor': '*' } }),
  )
  if (crashes) await writeFile(join(dir, 'server.mjs'), `throw new Error('${version} cannot start')\n`)
  else await cp(APP, join(dir, 'server.mjs'))
  for (const name of ['supervisor', 'core']) {
    const into = join(dir, 'node_modules', '@relup', name)
    await mkdir(into, { recursive: true })
    await cp(join(packages, name, 'dist'), join(into, 'dist'), { recursive: true })
    await cp(join(packages, name, 'package.json'), join(into, 'package.json'))
  }
  return dir
}

async function fleet() {
  const storage = fsStorage({ dir: await temp('store') })
  cleanups.push(async () => storage.close?.())
  const machine = { storage, app: APP_NAME, machineId: 'm1', releasesDir: await temp('releases') }
  return { storage, machine }
}

const publishOf = (storage: ReturnType<typeof fsStorage>, dir: string) =>
  publishCold({ storage, app: APP_NAME, dir, command: [process.execPath, 'server.mjs'], reason: '--cold' })

async function resultOf(storage: ReturnType<typeof fsStorage>, releaseId: string, status: string) {
  const keys = relupKeys(APP_NAME)
  return until(
    `a ${status} result`,
    async () => (await coldResults(storage, keys, releaseId)).find((r) => r.status === status),
    10_000,
  )
}

describe('cold releases through storage', () => {
  it('a published cold release is downloaded, verified and cut over to under load, losing no request', async () => {
    const { storage, machine } = await fleet()
    const { supervisor, origin } = await supervise(release('base'))
    const follower = followColdReleases({ ...machine, supervisor, pollInterval: 100 })
    cleanups.push(() => follower.stop())
    const load = loadLoop(origin)
    await until('some load', () => load.ok > 30)
    const published = await publishOf(storage, await coldBuild('2.0.0'))
    const completed = await resultOf(storage, published.releaseId, 'completed')
    await until('load on the new process', () => load.pids.size === 2 && load.ok > 150)
    await load.stop()
    expect(load.failures).toEqual([])
    expect(completed).toMatchObject({
      machineId: 'm1',
      version: '2.0.0',
      baseRef: coldBaseRef(published.releaseId),
    })
    const answer = await get(origin)
    expect(answer).toMatchObject({ version: '2.0.0', counter: load.ok })
    expect(supervisor.current?.release).toBe(published.releaseId)
  })

  it('a cold release that crashes at startup is reported failed, the old process keeps serving, and it is not retried', async () => {
    const { storage, machine } = await fleet()
    const { supervisor, events, origin } = await supervise(release('base'))
    const follower = followColdReleases({ ...machine, supervisor, pollInterval: 100 })
    cleanups.push(() => follower.stop())
    const good = await publishOf(storage, await coldBuild('2.0.0'))
    await resultOf(storage, good.releaseId, 'completed')
    const bad = await publishOf(storage, await coldBuild('3.0.0', { crashes: true }))
    const failed = await resultOf(storage, bad.releaseId, 'failed')
    expect(failed.error?.code).toBe('ERR_RELUP_CHILD_NOT_READY')
    expect((await get(origin)).version).toBe('2.0.0')
    await sleep(500)
    expect(events.filter((e) => e.type === 'spawned' && e.release === bad.releaseId)).toHaveLength(1)
    // The rollback is a release of its own: the good one's artifact and command under a new id.
    const back = await rollbackCold({ storage, app: APP_NAME })
    expect(back).toMatchObject({ version: '2.0.0', artifact: good.artifact, command: good.command })
    expect(back.releaseId).not.toBe(good.releaseId)
    const pointer = await readDocument(storage, coldKey(relupKeys(APP_NAME)), parseColdPointer)
    expect(pointer.status === 'ok' && pointer.document.release?.releaseId).toBe(back.releaseId)
    await resultOf(storage, back.releaseId, 'completed')
    expect(supervisor.current?.release).toBe(back.releaseId)
    expect((await get(origin)).version).toBe('2.0.0')
  })

  it('a rollback cuts over to the previous cold release', async () => {
    const { storage, machine } = await fleet()
    const { supervisor, origin } = await supervise(release('base'))
    const follower = followColdReleases({ ...machine, supervisor, pollInterval: 100 })
    cleanups.push(() => follower.stop())
    const v2 = await publishOf(storage, await coldBuild('2.0.0'))
    await resultOf(storage, v2.releaseId, 'completed')
    const v3 = await publishOf(storage, await coldBuild('3.0.0'))
    await resultOf(storage, v3.releaseId, 'completed')
    expect((await get(origin)).version).toBe('3.0.0')
    const back = await rollbackCold({ storage, app: APP_NAME })
    await until('v2 serving again', async () => (await get(origin)).version === '2.0.0' && true, 10_000)
    expect(supervisor.current?.release).toBe(back.releaseId)
    // Its results are its own: v2's first results do not answer for the rollback.
    expect(await coldResults(storage, relupKeys(APP_NAME), back.releaseId)).toHaveLength(1)
    expect((await coldResults(storage, relupKeys(APP_NAME), v2.releaseId))[0]?.status).toBe('completed')
  })

  it('a machine restarted after a cold upgrade boots the cold release', async () => {
    const { storage, machine } = await fleet()
    const published = await publishOf(storage, await coldBuild('2.0.0'))
    const boot = await bootRelease(machine, release('base'))
    expect(boot.cold?.releaseId).toBe(published.releaseId)
    const { origin } = await supervise(boot.release)
    expect((await get(origin)).version).toBe('2.0.0')
  })

  it('tells the app process that the app’s cold releases reach it, and which release it was started from', async () => {
    const { storage, machine } = await fleet()
    const boot = await bootRelease(machine, release('base'))
    expect(boot.cold).toBeNull()
    const { supervisor, origin } = await supervise(boot.release)
    // What the app's runtime writes into its machine record (see @relup/core supervisedFromEnv).
    expect(await get(origin, '/env')).toEqual({
      RELUP_SUPERVISOR: '1',
      RELUP_COLD_APP: APP_NAME,
      RELUP_COLD_RELEASE: null,
    })
    const follower = followColdReleases({ ...machine, supervisor, pollInterval: 100 })
    cleanups.push(() => follower.stop())
    const published = await publishOf(storage, await coldBuild('2.0.0'))
    await resultOf(storage, published.releaseId, 'completed')
    expect(await get(origin, '/env')).toEqual({
      RELUP_SUPERVISOR: '1',
      RELUP_COLD_APP: APP_NAME,
      RELUP_COLD_RELEASE: published.releaseId,
    })
  })

  it('refuses to publish a directory without its production dependencies', async () => {
    const { storage } = await fleet()
    const dir = await coldBuild('2.0.0')
    await rm(join(dir, 'node_modules'), { recursive: true })
    await expect(publishOf(storage, dir)).rejects.toThrow(ColdReleaseError)
    await expect(publishOf(storage, dir)).rejects.toThrow(/npm ci --omit=dev/)
  })
})

describe('signed cold releases', () => {
  const trusted = generateSigningKeyPair()
  const stranger = generateSigningKeyPair()

  const signedPublish = (storage: ReturnType<typeof fsStorage>, dir: string, sign?: string) =>
    publishCold({
      storage,
      app: APP_NAME,
      dir,
      command: [process.execPath, 'server.mjs'],
      reason: '--cold',
      sign,
    })

  it('a supervisor with trusted keys takes a release signed by one of them', async () => {
    const { storage, machine } = await fleet()
    const { supervisor, origin } = await supervise(release('base'))
    const follower = followColdReleases({
      ...machine,
      trustedKeys: [stranger.publicKey, trusted.publicKey],
      supervisor,
      pollInterval: 100,
    })
    cleanups.push(() => follower.stop())
    const signed = await signedPublish(storage, await coldBuild('2.0.0'), trusted.privateKey)
    expect(signed.signature?.keyId).toBe(keyIdOf(trusted.publicKey))
    await resultOf(storage, signed.releaseId, 'completed')
    expect((await get(origin)).version).toBe('2.0.0')
  })

  it.each([
    ['an unsigned release', undefined, /is not signed/],
    ['a release signed by an untrusted key', stranger.privateKey, /not among the trusted keys/],
  ])('refuses %s: failed, never started, the old process keeps serving', async (_, sign, message) => {
    const { storage, machine } = await fleet()
    const { supervisor, events, origin } = await supervise(release('base'))
    const follower = followColdReleases({
      ...machine,
      trustedKeys: [trusted.publicKey],
      supervisor,
      pollInterval: 100,
    })
    cleanups.push(() => follower.stop())
    const before = await get(origin)
    const refused = await signedPublish(storage, await coldBuild('2.0.0'), sign)
    const failed = await resultOf(storage, refused.releaseId, 'failed')
    expect(failed.error).toMatchObject({ code: 'ERR_RELUP_SIGNATURE', phase: 'verify' })
    expect(failed.error?.message).toMatch(message)
    expect(events.some((e) => e.type === 'spawned' && e.release === refused.releaseId)).toBe(false)
    expect(await get(origin)).toMatchObject({ version: 'base', pid: before.pid })
  })

  it('refuses a signed release changed after it was signed (another command)', async () => {
    const { storage, machine } = await fleet()
    const { supervisor, origin } = await supervise(release('base'))
    const published = await signedPublish(storage, await coldBuild('2.0.0'), trusted.privateKey)
    // Someone with write access to the bucket points the release at another program.
    const key = coldKey(relupKeys(APP_NAME))
    const read = await readDocument(storage, key, parseColdPointer)
    if (read.status !== 'ok') throw new Error('no cold pointer')
    const tampered = { ...read.document, release: { ...published, command: ['sh', '-c', 'echo owned'] } }
    await writeDocument(storage, key, tampered, { ifMatch: read.etag })
    const follower = followColdReleases({
      ...machine,
      trustedKeys: [trusted.publicKey],
      supervisor,
      pollInterval: 100,
    })
    cleanups.push(() => follower.stop())
    const failed = await resultOf(storage, published.releaseId, 'failed')
    expect(failed.error?.message).toMatch(/does not verify/)
    expect((await get(origin)).version).toBe('base')
  })

  it('a machine booting with trusted keys does not boot an unsigned release: base, and failed', async () => {
    const { storage, machine } = await fleet()
    const unsigned = await signedPublish(storage, await coldBuild('2.0.0'))
    const boot = await bootRelease({ ...machine, trustedKeys: [trusted.publicKey] }, release('base'))
    expect(boot.cold).toBeNull()
    expect(boot.release.id).toBe('base')
    expect(boot.error?.code).toBe('ERR_RELUP_SIGNATURE')
    expect((await resultOf(storage, unsigned.releaseId, 'failed')).machineId).toBe('m1')
  })
})
