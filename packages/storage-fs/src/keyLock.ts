/**
 * A per-key lock that holds across processes: a file created with O_CREAT|O_EXCL (`'wx'`),
 * which exactly one process can create. Writers hold it only around check-and-rename
 * (milliseconds), never while a body streams in.
 *
 * A lock left by a crashed holder is broken: at once when its process is gone (same host and
 * pid namespace, pid no longer running), otherwise once the file is older than `staleLockMs`.
 * Breaking is guarded by a second exclusive file (`<lock>.break`) and re-checks the lock's
 * identity, so two waiters that both saw the stale lock cannot both break and re-take it.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readlinkSync } from 'node:fs'
import { type FileHandle, link, mkdir, open, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** What a lock file says about its holder (JSON). */
export interface LockHolder {
  pid: number
  host: string
  /** Linux pid namespace (`pid:[…]`): two containers may share a hostname and a pid number. */
  pidNamespace: string
  token: string
  key: string
  acquiredAt: string
}

interface ObservedLock {
  /** Changes whenever the file is replaced, even by one with the same content. */
  identity: string
  holder: LockHolder | undefined
  mtimeMs: number
}

function currentPidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid')
  } catch {
    return ''
  }
}

/** Who this process is, as written into lock and temp file names. */
export const self = { pid: process.pid, host: hostname(), pidNamespace: currentPidNamespace() }

/** A short tag for this host and pid namespace, used in temp file names. */
export const hostTag = createHash('sha256')
  .update(`${self.host}\0${self.pidNamespace}`)
  .digest('hex')
  .slice(0, 8)

export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The lock file of `key` (flat: keys can be 1,024 characters long and hold slashes). */
export function lockFileName(key: string): string {
  return `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.lock`
}

/** Waited `lockTimeoutMs` for a lock held by a live process. */
export class LockTimeoutError extends Error {
  readonly lockPath: string
  readonly holder: LockHolder | undefined

  constructor(lockPath: string, holder: LockHolder | undefined, waitedMs: number) {
    const who = holder
      ? `pid ${holder.pid} on ${holder.host} since ${holder.acquiredAt}`
      : 'an unknown process'
    super(
      `timed out after ${waitedMs} ms waiting for the lock ${lockPath} (held by ${who}); ` +
        'if that process is gone and no other relup process writes this key, delete the lock file',
    )
    this.lockPath = lockPath
    this.holder = holder
  }
}

/** Locks are held for milliseconds, so a waiter polls often: a longer pause only adds latency. */
const MAX_POLL_MS = 10

/** What `link()` fails with on filesystems that have no hard links (FAT, some FUSE and SMB mounts). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'])

const ignoreMissing = (error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>
    if (typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.token === 'string') {
      return { pidNamespace: '', key: '', acquiredAt: '', ...value } as LockHolder
    }
  } catch {}
  return undefined
}

async function observe(path: string): Promise<ObservedLock | undefined> {
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    ignoreMissing(error)
    return undefined
  }
  try {
    const stats = await handle.stat()
    const text = await handle.readFile('utf8')
    return {
      identity: `${stats.ino}:${stats.mtimeMs}:${text}`,
      holder: parseHolder(text),
      mtimeMs: stats.mtimeMs,
    }
  } finally {
    await handle.close()
  }
}

export interface KeyLocksOptions {
  /** Where lock files live. */
  dir: string
  /** Where a lock file is written before it is linked into place (same filesystem). */
  tempDir: string
  staleLockMs: number
  lockTimeoutMs: number
}

export interface KeyLocks {
  /** Run `fn` while holding the lock of `key`, against other calls in this process and in others. */
  withLock<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>
}

export function keyLocks(options: KeyLocksOptions): KeyLocks {
  const { staleLockMs, lockTimeoutMs } = options
  let hardLinks = true
  // Calls in this process queue here first, so the lock file is only contended across processes.
  const queues = new Map<string, Promise<void>>()

  const holderIsGone = (holder: LockHolder | undefined) =>
    holder !== undefined &&
    holder.host === self.host &&
    holder.pidNamespace === self.pidNamespace &&
    !isProcessRunning(holder.pid)

  const isStale = (lock: ObservedLock) => holderIsGone(lock.holder) || Date.now() - lock.mtimeMs > staleLockMs

  const content = (key: string, token: string) =>
    JSON.stringify({ ...self, token, key, acquiredAt: new Date().toISOString() } satisfies LockHolder)

  /** Create `path` holding `content` unless it exists (`false` then), with `'wx'` semantics. */
  async function openExclusive(path: string, content: string): Promise<boolean> {
    let handle: FileHandle
    try {
      handle = await open(path, 'wx')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw error
    }
    try {
      await handle.writeFile(content)
      await handle.close()
      return true
    } catch (error) {
      await handle.close().catch(() => {})
      await unlink(path).catch(() => {})
      throw error
    }
  }

  /**
   * Create `path` holding `content` unless it exists (`false` then). The content goes to a temp
   * file that is hard-linked into place (link fails with EEXIST like O_EXCL), so a lock file is
   * never seen empty, even when its creator is killed half-way. Filesystems without hard links
   * fall back to `'wx'`, where such a lock can only be broken by age.
   */
  async function createExclusive(path: string, content: string): Promise<boolean> {
    if (hardLinks) {
      const staged = join(options.tempDir, `${hostTag}-${process.pid}-${randomBytes(8).toString('hex')}.tmp`)
      await writeFile(staged, content, { flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error
        // Someone removed the temp directory by hand: recreate it.
        await mkdir(options.tempDir, { recursive: true })
        await writeFile(staged, content, { flag: 'wx' })
      })
      try {
        await link(staged, path)
        return true
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'EEXIST') return false
        if (code === 'ENOENT') {
          // Someone removed the lock directory by hand: recreate it.
          await mkdir(dirname(path), { recursive: true })
          return createExclusive(path, content)
        }
        if (!NO_HARD_LINKS.has(code ?? '')) throw error
        hardLinks = false
      } finally {
        await unlink(staged).catch(() => {})
      }
    }
    return openExclusive(path, content)
  }

  /** Remove `lockPath` if it is still the stale lock we observed; `true` when removed. */
  async function breakStale(lockPath: string, stale: ObservedLock, key: string): Promise<boolean> {
    const markerPath = `${lockPath}.break`
    if (!(await createExclusive(markerPath, content(key, randomBytes(12).toString('hex'))))) {
      // Another waiter is breaking it. A marker left by a breaker that died is stale in its turn.
      const marker = await observe(markerPath)
      if (marker && isStale(marker) && (await observe(markerPath))?.identity === marker.identity) {
        await unlink(markerPath).catch(ignoreMissing)
      }
      return false
    }
    try {
      if ((await observe(lockPath))?.identity !== stale.identity) return false
      await unlink(lockPath).catch(ignoreMissing)
      return true
    } finally {
      await unlink(markerPath).catch(ignoreMissing)
    }
  }

  async function acquire(lockPath: string, key: string, signal: AbortSignal | undefined): Promise<string> {
    const token = randomBytes(12).toString('hex')
    const started = Date.now()
    let delayMs = 1
    for (;;) {
      signal?.throwIfAborted()
      if (await createExclusive(lockPath, content(key, token))) return token
      const observed = await observe(lockPath)
      if (observed && isStale(observed) && (await breakStale(lockPath, observed, key))) continue
      if (Date.now() - started >= lockTimeoutMs)
        throw new LockTimeoutError(lockPath, observed?.holder, lockTimeoutMs)
      // A lock released between our two looks is tried again at once.
      if (observed === undefined) continue
      await sleep(delayMs * (0.5 + Math.random()), undefined, { signal })
      delayMs = Math.min(delayMs * 2, MAX_POLL_MS)
    }
  }

  async function release(lockPath: string, token: string, acquiredAt: number): Promise<void> {
    try {
      // Younger than staleLockMs and held by a live process: nobody can have broken it.
      if (Date.now() - acquiredAt < staleLockMs / 2) return await unlink(lockPath)
      const observed = await observe(lockPath)
      if (observed?.holder?.token === token) await unlink(lockPath)
    } catch {
      // The write already happened; a lock file left behind is broken after staleLockMs.
    }
  }

  return {
    async withLock(key, fn, signal) {
      const lockPath = join(options.dir, lockFileName(key))
      const previous = queues.get(lockPath)
      let done!: () => void
      const mine = new Promise<void>((resolve) => {
        done = resolve
      })
      const tail = previous ? previous.then(() => mine) : mine
      queues.set(lockPath, tail)
      try {
        if (previous) await previous
        const token = await acquire(lockPath, key, signal)
        const acquiredAt = Date.now()
        try {
          return await fn()
        } finally {
          await release(lockPath, token, acquiredAt)
        }
      } finally {
        done()
        if (queues.get(lockPath) === tail) queues.delete(lockPath)
      }
    },
  }
}
