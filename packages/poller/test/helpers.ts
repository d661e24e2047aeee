import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pack, signHotUpgrade } from '@relup/artifact'
import {
  type CurrentPointer,
  type HotUpgrade,
  newUpgradeId,
  parseCurrentPointer,
  readDocument,
  relupKeys,
  type Storage,
  withHotUpgrade,
  writeDocument,
} from '@relup/core'
import { createSwapEngine, type SwapEngine } from '@relup/swap'
import { afterEach } from 'vitest'
import { type Relup, type RelupOptions, silentLogger, startRelup } from '../src/index.js'

export const APP = 'shop'
const cleanups: (() => Promise<unknown>)[] = []

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
})

export function onCleanup(fn: () => Promise<unknown>) {
  cleanups.push(fn)
}

export async function tempDir(label = 'poller'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `relup-${label}-`))
  onCleanup(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A hot release: `version.js` says its version, and the `counter` unit counts, remembering the
 * versions it migrated from. `breakAtTop` makes the module throw while it is evaluated.
 */
export async function writeRelease(
  dir: string,
  version: string,
  options: { breakAtTop?: boolean; extraFiles?: Record<string, string | Buffer> } = {},
): Promise<string> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'version.js'), `module.exports = { version: ${JSON.stringify(version)} }\n`)
  await writeFile(
    join(dir, 'counter.js'),
    `${options.breakAtTop ? "throw new Error('broken release: top-level throw')\n" : ''}
exports.units = {
  counter: {
    init: () => ({ count: 0, migratedFrom: [] }),
    create: (ctx) => ({
      increment: () => ++ctx.state.count,
      read: () => ({ count: ctx.state.count, version: ${JSON.stringify(version)}, migratedFrom: ctx.state.migratedFrom }),
    }),
    codeChange: (old, fromVersion) => ({ ...old, migratedFrom: [...old.migratedFrom, fromVersion] }),
  },
}
`,
  )
  for (const [name, content] of Object.entries(options.extraFiles ?? {})) {
    await mkdir(join(dir, name, '..'), { recursive: true })
    await writeFile(join(dir, name), content)
  }
  return dir
}

export async function readPointer(
  storage: Storage,
): Promise<{ pointer: CurrentPointer; etag: string } | null> {
  const read = await readDocument(storage, relupKeys(APP).current, parseCurrentPointer)
  return read.status === 'ok' ? { pointer: read.document, etag: read.etag } : null
}

export interface PublishDirectOptions {
  version: string
  baseRef?: string
  sign?: string
  /** Change the hot upgrade after packing (e.g. a wrong sha256). */
  mutate?: (hot: HotUpgrade) => HotUpgrade
  /** Replace the artifact bytes stored (e.g. truncated or hostile). */
  artifactBytes?: (bytes: Buffer) => Buffer
}

/** What `relup publish` does, minus the lock and the waiting: upload the artifact and move the pointer. */
export async function publishDirect(
  storage: Storage,
  dir: string,
  options: PublishDirectOptions,
): Promise<HotUpgrade> {
  const keys = relupKeys(APP)
  const packed = await pack(dir)
  onCleanup(() => rm(packed.path, { force: true }))
  const current = await readPointer(storage)
  const baseRef = options.baseRef ?? current?.pointer.baseRef
  if (!baseRef) throw new Error('publishDirect: no base')
  const key = keys.artifact(options.version, packed.sha256)
  if (options.artifactBytes) {
    const { readFile } = await import('node:fs/promises')
    await storage.put(key, options.artifactBytes(await readFile(packed.path)))
  } else {
    await storage.put(key, createReadStream(packed.path), { contentLength: packed.size })
  }
  let hot: HotUpgrade = {
    version: options.version,
    upgradeId: newUpgradeId(),
    sourceRef: `sha256:${packed.sha256}`,
    baseRef,
    artifact: { key, sha256: packed.sha256, size: packed.size },
    manifest: packed.manifest,
    publishedAt: new Date().toISOString(),
    publishedBy: 'test',
  }
  if (options.sign) hot = signHotUpgrade(hot, options.sign)
  if (options.mutate) hot = options.mutate(hot)
  const next: CurrentPointer = current
    ? withHotUpgrade(current.pointer, hot, { setBy: 'test' })
    : {
        schema: 1,
        app: APP,
        baseRef,
        previousBases: [],
        hot,
        seq: 1,
        setAt: new Date().toISOString(),
        setBy: 'test',
      }
  const put = await writeDocument(
    storage,
    keys.current,
    next,
    current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
  )
  if (put.status !== 'ok') throw new Error('publishDirect: pointer changed meanwhile')
  return hot
}

export interface Machine {
  engine: SwapEngine
  relup: Relup
  stateDir: string
  counter: () => Promise<{ count: number; version: string; migratedFrom: string[] }>
}

/** A machine: a swap engine on the base release and the runtime, started like an app would. */
export async function startMachine(
  storage: Storage,
  options: { baseDir: string; stateDir?: string; baseRef?: string | null } & Omit<
    Partial<RelupOptions>,
    'baseRef'
  >,
): Promise<Machine> {
  const engine = await createSwapEngine({
    releaseDir: options.baseDir,
    version: 'base',
    logger: { warn() {}, error() {} },
  })
  onCleanup(() => engine.close())
  const stateDir = options.stateDir ?? (await tempDir('state'))
  const { baseDir: _b, stateDir: _s, baseRef, ...rest } = options
  const relup = await startRelup({
    app: APP,
    storage,
    engine,
    baseRef: baseRef === null ? undefined : (baseRef ?? 'image-1'),
    machineId: 'm1',
    stateDir,
    pollInterval: 50,
    logger: silentLogger,
    retryBaseDelay: 200,
    ...rest,
  })
  onCleanup(() => relup.stop())
  const counter = engine.unit<{
    increment(): number
    read(): { count: number; version: string; migratedFrom: string[] }
  }>('counter')
  return { engine, relup, stateDir, counter: () => counter.read() }
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>

export async function waitFor<T>(
  probe: () => T | Promise<T>,
  what: string,
  timeoutMs = 5000,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value as Truthy<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Resolves when the runtime finished applying `version` (result written, marker written). */
export function waitForApplied(relup: Relup, version: string, timeoutMs = 5000) {
  return waitFor(
    () => {
      const last = relup.getState().lastUpgrade
      return last?.version === version && last.status === 'completed' && last
    },
    `${version} to be applied`,
    timeoutMs,
  )
}
