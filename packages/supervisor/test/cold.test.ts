import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { coldBaseRef, coldKey, parseColdPointer, readDocument, relupKeys } from '@relup/core'
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
    // The pointer goes back to the good release, which this machine still runs: nothing to do.
    const back = await rollbackCold({ storage, app: APP_NAME })
    expect(back.releaseId).toBe(good.releaseId)
    const pointer = await readDocument(storage, coldKey(relupKeys(APP_NAME)), parseColdPointer)
    expect(pointer.status === 'ok' && pointer.document.release?.releaseId).toBe(good.releaseId)
    await sleep(300)
    expect(supervisor.current?.release).toBe(good.releaseId)
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
    await rollbackCold({ storage, app: APP_NAME })
    await until('v2 serving again', async () => (await get(origin)).version === '2.0.0' && true, 10_000)
    expect(supervisor.current?.release).toBe(v2.releaseId)
  })

  it('a machine restarted after a cold upgrade boots the cold release', async () => {
    const { storage, machine } = await fleet()
    const published = await publishOf(storage, await coldBuild('2.0.0'))
    const boot = await bootRelease(machine, release('base'))
    expect(boot.cold?.releaseId).toBe(published.releaseId)
    const { origin } = await supervise(boot.release)
    expect((await get(origin)).version).toBe('2.0.0')
  })

  it('refuses to publish a directory without its production dependencies', async () => {
    const { storage } = await fleet()
    const dir = await coldBuild('2.0.0')
    await rm(join(dir, 'node_modules'), { recursive: true })
    await expect(publishOf(storage, dir)).rejects.toThrow(ColdReleaseError)
    await expect(publishOf(storage, dir)).rejects.toThrow(/npm ci --omit=dev/)
  })
})
