/**
 * Development mode with hot reload (`relup dev`, `startRelup({ dev: true })` or `RELUP_DEV=1`,
 * without a base ref): watch the hot directory, wait for a burst of saves to settle, snapshot
 * the directory into a fresh release directory and hand it to the engine, the same transaction
 * a published upgrade goes through (refuse → prepare → suspend → migrate → commit → dispose).
 * A failure leaves the running version serving; the next save tries again.
 */
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, resolve, sep } from 'node:path'
import { ConfigError, diffManifests, type EngineStats, type ModuleManifest } from '@relup/core'
import { manifestOfDirectory } from '@relup/core/release'
import type { ResolvedDevOptions } from './devOptions.js'
import { displayPath, errorLocation, failedLine, PREFIX, reloadedLines } from './devReport.js'
import { pruneSnapshots, type Snapshot, sameFiles, takeSnapshot } from './devSnapshot.js'
import { type TreeWatcher, watchTree } from './devWatch.js'
import type { ResolvedOptions, UpgradeEngine } from './options.js'
import type { RelupEvents } from './types.js'

type DevEvent = 'dev:reloaded' | 'dev:failed'
export type DevEmit = <K extends DevEvent>(event: K, ...args: RelupEvents[K]) => void

/** Files editors write beside the one being saved (swap files, backups, vim's write probe). */
const EDITOR_TEMP = /^(?:\.#.*|#.*#|.*~|.*\.sw[a-px]|4913|\.DS_Store)$/
/** Consecutive snapshots that may fail on a file that vanished while it was walked (an editor's temp file). */
const VANISHED_RETRIES = 3

export class DevLoop {
  readonly #engine: UpgradeEngine
  readonly #o: ResolvedDevOptions
  readonly #suspendTimeout: number
  readonly #emit: DevEmit
  readonly #hotDir: string
  readonly #root: string
  #tree: TreeWatcher | null = null
  /** The hot directory does not exist (said once, until it is back). */
  #gone = false
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  #again = false
  #stopped = false
  /** What runs: its files, its version and the snapshot it came from (null: the base release). */
  #live: ModuleManifest
  #serving: string
  #current: Snapshot | null = null
  #before: Snapshot | null = null
  #reloads = 0
  /** Something was added, removed or renamed since the last snapshot: walk the directory again. */
  #rewalk = true
  #attempts = 0
  #vanished = 0
  readonly #removeAtExit: () => void

  private constructor(
    engine: UpgradeEngine,
    o: ResolvedDevOptions,
    init: { hotDir: string; root: string; live: ModuleManifest; suspendTimeout: number; emit: DevEmit },
  ) {
    this.#engine = engine
    this.#o = o
    this.#hotDir = init.hotDir
    this.#root = init.root
    this.#live = init.live
    this.#suspendTimeout = init.suspendTimeout
    this.#emit = init.emit
    this.#serving = typeof engine.version === 'string' ? engine.version : 'base'
    // Snapshots are scratch copies: gone with the process, however it ends (short of SIGKILL).
    this.#removeAtExit = () => rmSync(this.#root, { recursive: true, force: true })
    process.once('exit', this.#removeAtExit)
  }

  static async start(engine: UpgradeEngine, o: ResolvedDevOptions, runtime: ResolvedOptions, emit: DevEmit) {
    const given = o.hotDir ?? (typeof engine.releaseDir === 'string' ? resolve(engine.releaseDir) : null)
    if (given === null)
      throw new ConfigError(
        'dev.hotDir',
        'development mode needs the directory to watch, and the engine does not say its releaseDir: pass dev: { hotDir } (or RELUP_DEV_HOT, `relup dev --hot <dir>`)',
      )
    const hotDir = given
    const isDir = await stat(hotDir).then(
      (s) => s.isDirectory(),
      () => false,
    )
    if (!isDir)
      throw new ConfigError(
        'dev.hotDir',
        `development mode: the hot directory ${hotDir} is not a directory; check --hot (RELUP_DEV_HOT)`,
      )
    const parent = o.snapshotsDir ?? tmpdir()
    if (resolve(parent).startsWith(hotDir + sep))
      throw new ConfigError(
        'dev.snapshotsDir',
        `development mode: the snapshots directory ${parent} is inside the hot directory it copies; choose another`,
      )
    await mkdir(parent, { recursive: true })
    const root = await mkdtemp(join(parent, `relup-dev-${process.pid}-`))
    const live = engine.manifest ?? (await manifestOfDirectory(hotDir))
    const loop = new DevLoop(engine, o, { hotDir, root, live, suspendTimeout: runtime.suspendTimeout, emit })
    await loop.#watch()
    o.write(
      `${PREFIX} watching ${displayPath(hotDir, '')} (serving ${loop.#serving}); a save reloads it in place, state kept`,
    )
    return loop
  }

  /** The version serving now: the engine's at start, then `dev-<n>` after the n-th reload. */
  get serving(): string {
    return this.#serving
  }

  /** Watch the hot directory; while it does not exist (a clean rebuild), look again every 0.5 s. */
  async #watch(): Promise<void> {
    this.#tree?.close()
    this.#tree = null
    if (this.#stopped) return
    try {
      this.#tree = await watchTree(this.#hotDir, (path, event) => this.#changed(path, event))
    } catch {
      if (!this.#gone)
        this.#o.write(`${PREFIX} ${this.#hotDir} is gone; waiting for it (still serving ${this.#serving})`)
      this.#gone = true
      setTimeout(() => void this.#watch(), 500).unref()
      return
    }
    if (this.#gone) this.#changed(null) // it is back: load what it holds now
    this.#gone = false
  }

  #changed(path: string | null, event: 'rename' | 'change' = 'rename'): void {
    if (this.#stopped) return
    if (path !== null && EDITOR_TEMP.test(basename(path))) return
    if (event === 'rename') this.#rewalk = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#run()
    }, this.#o.debounce)
    this.#timer.unref()
  }

  #run(): void {
    if (this.#running) {
      this.#again = true // a save during a reload: reload again once it is over
      return
    }
    this.#running = (async () => {
      do {
        this.#again = false
        await this.#reload().catch((error: unknown) =>
          this.#o.write(`${PREFIX} reload failed unexpectedly: ${(error as Error).stack ?? String(error)}`),
        )
      } while (this.#again && !this.#stopped)
    })().finally(() => {
      this.#running = null
    })
  }

  async #reload(): Promise<void> {
    const started = performance.now()
    // Not watching: the directory is gone, and `#watch` reloads once it is back.
    if (this.#tree === null) return
    if (await this.#tree.replaced()) {
      await this.#watch() // a directory made anew (a clean rebuild): watch it, then load it
      if (this.#tree) this.#changed(null)
      return
    }
    const version = `dev-${this.#reloads + 1}`
    const dir = join(this.#root, `${version}-${++this.#attempts}`)
    let snapshot: Snapshot
    const rewalk = this.#rewalk
    this.#rewalk = false
    try {
      snapshot = await takeSnapshot(this.#hotDir, dir, this.#current, { rewalk })
      this.#vanished = 0
    } catch (error) {
      this.#rewalk = true
      await rm(dir, { recursive: true, force: true })
      if ((error as { code?: string }).code === 'ENOENT' && ++this.#vanished <= VANISHED_RETRIES)
        return this.#changed(null)
      this.#o.write(failedLine(error, { hotDir: this.#hotDir, serving: this.#serving }))
      return
    }
    if (Object.keys(snapshot.manifest.files).length === 0 || sameFiles(snapshot.manifest, this.#live)) {
      // A save without a change, or a build that emptied the directory: nothing to load.
      await rm(dir, { recursive: true, force: true })
      return
    }
    const diff = diffManifests(this.#live, snapshot.manifest)
    const changed = [...diff.added, ...diff.changed, ...diff.removed].sort()
    const fromVersion = this.#serving
    try {
      const stats: EngineStats = await this.#engine.upgrade(dir, {
        manifest: snapshot.manifest,
        version,
        suspendTimeout: this.#suspendTimeout,
        verified: true, // hashed while copied; nothing else writes a snapshot
      })
      this.#live = snapshot.manifest
      this.#before = this.#current
      this.#current = snapshot
      this.#serving = version
      this.#reloads++
      const ms = performance.now() - started
      for (const line of reloadedLines(stats, changed, { hotDir: this.#hotDir, ms })) this.#o.write(line)
      this.#emit('dev:reloaded', { version, fromVersion, changed, stats, ms })
    } catch (error) {
      await rm(dir, { recursive: true, force: true })
      this.#rewalk = true // the snapshot kept for reuse is older than what this one walked
      this.#o.write(failedLine(error, { hotDir: this.#hotDir, serving: this.#serving }))
      const where = errorLocation(error)
      this.#emit('dev:failed', {
        version,
        serving: this.#serving,
        changed,
        error: error instanceof Error ? error : new Error(String(error)),
        location: where
          ? `${where.file}:${where.line}${where.column === undefined ? '' : `:${where.column}`}`
          : null,
      })
    }
    await this.#prune()
  }

  /** Keep the live snapshot and what the engine still loads files from (else the one before, too). */
  async #prune(): Promise<void> {
    let inUse: string[] | null = null
    try {
      inUse = this.#engine.releaseDirsInUse?.() ?? null
    } catch {
      return // the engine cannot say: keep them all
    }
    const keep = [this.#current?.dir, ...(inUse ?? [this.#before?.dir])].filter((dir) => dir !== undefined)
    await pruneSnapshots(this.#root, keep)
  }

  /** Stop watching; waits for a reload in progress. Snapshots still in use stay until the process exits. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#tree?.close()
    this.#tree = null
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    await this.#running
    await this.#prune()
  }
}

/**
 * The runtime without a base ref: reload on save when development mode is asked for, else the
 * one warning that says how to get either.
 */
export async function startDevelopment(o: ResolvedOptions, emit: DevEmit): Promise<DevLoop | null> {
  if (o.dev === null) {
    o.logger.warn(
      { app: o.app },
      'development mode: no baseRef, so hot upgrades are neither replayed nor polled; to use them, give every cold build its own base ref: the baseRef option, RELUP_BASE_REF (e.g. the image digest or git sha) or FLY_IMAGE_REF. To reload hot code on save, run the app under `relup dev` (or set RELUP_DEV=1)',
    )
    return null
  }
  return DevLoop.start(o.engine, o.dev, o, emit)
}

/** A process with a base ref is a production machine, whatever `RELUP_DEV` says: say so once. */
export function warnIfDevIgnored(o: ResolvedOptions): void {
  if (o.dev !== null)
    o.logger.warn(
      { baseRef: o.baseRef },
      'RELUP_DEV (the dev option) is ignored: a base ref is set, so this process runs as a production machine',
    )
}
