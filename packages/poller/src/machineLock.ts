/**
 * One process per machine id and state directory: a lock file in the state directory holding the
 * pid, created exclusively (`wx`). A lock whose process is gone (a crash, a kill) is taken over;
 * `stop()` removes it.
 */
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { MachineIdInUseError } from './errors.js'

export const lockPath = (stateDir: string) => join(resolve(stateDir), 'machine.lock')

interface LockContent {
  pid: number
  host: string | null
  machineId: string | null
}

/** The locks this process holds: a lock with our own pid that is not among them was left by an earlier life of this pid. */
const held = new Set<string>()

export interface MachineLock {
  release(): Promise<void>
}

/** Take the lock, or throw `MachineIdInUseError` naming the process that holds it. */
export async function acquireMachineLock(stateDir: string, machineId: string): Promise<MachineLock> {
  const path = lockPath(stateDir)
  const mine = `${JSON.stringify({ pid: process.pid, host: hostname(), machineId, at: new Date().toISOString() })}\n`
  for (let round = 0; round < 5; round++) {
    try {
      await writeFile(path, mine, { flag: 'wx' })
      held.add(path)
      return { release: () => releaseLock(path, mine) }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const found = await readLock(path)
    if (found === 'gone') continue
    // Empty or cut short: perhaps a process between creating it and writing its pid. Look again.
    if (found === 'unreadable' && round === 0) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      continue
    }
    if (found !== 'unreadable' && isAlive(found.pid) && (found.pid !== process.pid || held.has(path)))
      throw new MachineIdInUseError(machineId, stateDir, found)
    await takeOver(path, found, machineId, stateDir)
  }
  throw new Error(
    `could not take the machine lock ${path}: it kept changing; is another process starting with the same machine id?`,
  )
}

/**
 * Move the dead holder's lock aside, and check that what was moved is still that lock: a process
 * that took it over meanwhile gets its lock back, and this one refuses to start.
 */
async function takeOver(
  path: string,
  judged: LockContent | 'unreadable',
  machineId: string,
  stateDir: string,
): Promise<void> {
  const aside = `${path}.${process.pid}.${Date.now()}.stale`
  try {
    await rename(path, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return // another process moved it first
    throw error
  }
  const moved = await readLock(aside)
  const same =
    judged === 'unreadable'
      ? moved === 'unreadable'
      : moved !== 'unreadable' && moved !== 'gone' && moved.pid === judged.pid
  if (!same && moved !== 'gone' && moved !== 'unreadable') {
    await link(aside, path).catch(() => {})
    await rm(aside, { force: true })
    throw new MachineIdInUseError(machineId, stateDir, moved)
  }
  await rm(aside, { force: true })
}

async function readLock(path: string): Promise<LockContent | 'gone' | 'unreadable'> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw error
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockContent>
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0)
      return 'unreadable'
    return {
      pid: parsed.pid,
      host: typeof parsed.host === 'string' ? parsed.host : null,
      machineId: typeof parsed.machineId === 'string' ? parsed.machineId : null,
    }
  } catch {
    return 'unreadable'
  }
}

/** Signal 0 checks that the process exists; EPERM means it exists under another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Remove the lock if it is still ours (a process that took over a lock we lost keeps its own). */
async function releaseLock(path: string, mine: string): Promise<void> {
  held.delete(path)
  const text = await readFile(path, 'utf8').catch(() => null)
  if (text === mine) await rm(path, { force: true })
}
