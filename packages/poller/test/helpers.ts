import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pack, signHotUpgrade } from '@relup/artifact'
import {
  type CurrentPointer,
  type EngineStats,
  type HotUpgrade,
  newHotUpgrade,
  parseCurrentPointer,
  readDocument,
  relupKeys,
  type Storage,
  withCandidate,
  withHotUpgrade,
  writeDocument,
} from '@relup/core'
import { createSwapEngine, type SwapEngine } from '@relup/swap'
import { afterEach } from 'vitest'
import { type Relup, type RelupOptions, silentLogger, startRelup, type UpgradeEngine } from '../src/index.js'

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
 * versions it migrated from. `breakAtTop` makes the module throw while it is evaluated;
 * `breakCodeChange` makes its state migration throw (it evaluates, but no upgrade to it commits).
 */
export async function writeRelease(
  dir: string,
  version: string,
  options: {
    breakAtTop?: boolean
    breakCodeChange?: boolean
    extraFiles?: Record<string, string | Buffer>
  } = {},
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
    codeChange: (old, fromVersion) => ${
      options.breakCodeChange
        ? "{ throw new Error('codeChange of " + version + " throws') }"
        : '({ ...old, migratedFrom: [...old.migratedFrom, fromVersion] })'
    },
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
  baseRef?: string | undefined
  sign?: string | undefined
  /** Change the hot upgrade after packing (e.g. a wrong sha256). */
  mutate?: ((hot: HotUpgrade) => HotUpgrade) | undefined
  /** Replace the artifact bytes stored (e.g. truncated or hostile). */
  artifactBytes?: ((bytes: Buffer) => Buffer) | undefined
  /** Publish it as a rollout's candidate (the stable release stays `hot`) for every machine, on probation for `windowMs`. */
  candidate?: { windowMs: number; threshold?: number } | undefined
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
  let hot = newHotUpgrade({
    version: options.version,
    sourceRef: `sha256:${packed.sha256}`,
    baseRef,
    artifact: { key, sha256: packed.sha256, size: packed.size },
    manifest: packed.manifest,
    publishedBy: 'test',
  })
  if (options.sign) hot = signHotUpgrade(hot, options.sign)
  if (options.mutate) hot = options.mutate(hot)
  const now = new Date().toISOString()
  const next: CurrentPointer = current
    ? options.candidate
      ? withCandidate(
          current.pointer,
          hot,
          {
            plan: [{ percent: 100 }],
            wave: 0,
            threshold: options.candidate.threshold ?? 1,
            state: 'rolling',
            healthWindowMs: options.candidate.windowMs,
            maxFailures: 0,
            startedAt: now,
            waveStartedAt: now,
          },
          { setBy: 'test' },
        )
      : withHotUpgrade(current.pointer, hot, { setBy: 'test' })
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
  const { baseDir: _b, stateDir: _s, ...rest } = options
  const relup = await startRuntime(storage, { engine, stateDir, ...rest })
  const counter = engine.unit<{
    increment(): number
    read(): { count: number; version: string; migratedFrom: string[] }
  }>('counter')
  return { engine, relup, stateDir, counter: () => counter.read() }
}

/** The runtime as a test machine starts it (app `shop`, machine `m1`, base `image-1`, fast polls), on any engine. */
export async function startRuntime(
  storage: Storage,
  options: { engine: UpgradeEngine; baseRef?: string | null } & Omit<Partial<RelupOptions>, 'baseRef'>,
): Promise<Relup> {
  const { baseRef, ...rest } = options
  const relup = await startRelup({
    app: APP,
    storage,
    baseRef: baseRef === null ? undefined : (baseRef ?? 'image-1'),
    machineId: 'm1',
    stateDir: options.stateDir ?? (await tempDir('state')),
    pollInterval: 50,
    logger: silentLogger,
    retryBaseDelay: 200,
    ...rest,
  })
  onCleanup(() => relup.stop())
  return relup
}

/** What an engine reports for an upgrade that reloaded `counter.js` and migrated its unit. */
export function engineStats(overrides: Partial<EngineStats> = {}): EngineStats {
  return {
    modulesReloaded: 1,
    moduleNames: ['counter.js'],
    unitsMigrated: 1,
    unitNames: ['counter'],
    unitsFailed: 0,
    pauseMs: 1,
    totalMs: 2,
    ...overrides,
  }
}

/** An engine that swaps nothing: `upgrade` does what the test says; every release directory and the options it got are recorded. */
export function stubEngine(
  upgrade: (releaseDir: string) => Promise<EngineStats> = async () => engineStats(),
): UpgradeEngine & { releaseDirs: string[]; calls: Parameters<UpgradeEngine['upgrade']>[1][] } {
  const releaseDirs: string[] = []
  const calls: Parameters<UpgradeEngine['upgrade']>[1][] = []
  return {
    releaseDirs,
    calls,
    upgrade(releaseDir, options) {
      releaseDirs.push(releaseDir)
      calls.push(options)
      return upgrade(releaseDir)
    },
  }
}

export interface StorageCall {
  op: 'get' | 'getStream' | 'put' | 'delete'
  key: string
  ifNoneMatch?: string | undefined
}

/**
 * A storage that records every call and can hold the next read of a key (to have a poll in
 * flight): `hold(key)` returns `reached` (the read started) and `release()`. `readLatencyMs`
 * makes every `get` that slow, as a remote store is.
 */
export function spyStorage(inner: Storage, options: { readLatencyMs?: number } = {}) {
  const calls: StorageCall[] = []
  const readLatencyMs = options.readLatencyMs ?? 0
  let held: { key: string; reached: () => void; released: Promise<void> } | null = null
  const storage: Storage = {
    ...inner,
    async get(key, getOptions) {
      calls.push({ op: 'get', key, ifNoneMatch: getOptions?.ifNoneMatch })
      if (held?.key === key) {
        const { reached, released } = held
        held = null
        reached()
        await released
      }
      if (readLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, readLatencyMs))
      return inner.get(key, getOptions)
    },
    getStream(key, options) {
      calls.push({ op: 'getStream', key })
      return inner.getStream(key, options)
    },
    put(key, body, options) {
      calls.push({ op: 'put', key })
      return inner.put(key, body, options)
    },
    delete(key, options) {
      calls.push({ op: 'delete', key })
      return inner.delete(key, options)
    },
  }
  return {
    storage,
    calls,
    gets: (key: string) => calls.filter((call) => call.op === 'get' && call.key === key),
    writes: () => calls.filter((call) => call.op === 'put' || call.op === 'delete').length,
    hold(key: string): { reached: Promise<void>; release: () => void } {
      let release = () => {}
      const released = new Promise<void>((resolve) => {
        release = resolve
      })
      let reached = () => {}
      const reachedPromise = new Promise<void>((resolve) => {
        reached = resolve
      })
      held = { key, reached, released }
      return { reached: reachedPromise, release }
    },
  }
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
