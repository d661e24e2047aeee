/**
 * The artifact a publish packs lives in the OS temp directory until it is uploaded. Its name
 * carries the publisher's pid, so one left by a process that was killed (SIGKILL, a crash) is
 * recognised and removed by the next publish on this host.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, rmSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isProcessAlive } from './lock.js'

/** `relup-publish-<pid>-<random>.tgz`, and pack's `.relup-publish-<pid>-<random>.tgz.<hex>.partial`. */
const TEMP_ARTIFACT = /^\.?relup-publish-(\d+)-[0-9a-f]+\.tgz(?:\.[0-9a-f]+\.partial)?$/

/** A fresh path for this process's packed artifact. */
export function tempArtifactPath(dir: string = tmpdir()): string {
  return join(dir, `relup-publish-${process.pid}-${randomBytes(8).toString('hex')}.tgz`)
}

/** Remove temporary artifacts whose publisher is no longer running; returns what was removed. */
export async function sweepTempArtifacts(dir: string = tmpdir()): Promise<string[]> {
  const removed: string[] = []
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(TEMP_ARTIFACT.exec(name)?.[1])
    if (!pid || pid === process.pid || isProcessAlive(pid)) continue
    await rm(join(dir, name), { force: true }).then(
      () => removed.push(name),
      () => {}, // not ours to remove, or removed by another publisher meanwhile
    )
  }
  return removed
}

/**
 * Remove this process's own temporary artifacts, synchronously: for a process about to exit
 * before its publish could clean up (a second Ctrl-C, a cleanup that took too long).
 */
export function removeOwnTempArtifactsSync(dir: string = tmpdir()): void {
  let names: string[] = []
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (Number(TEMP_ARTIFACT.exec(name)?.[1]) !== process.pid) continue
    try {
      rmSync(join(dir, name), { force: true })
    } catch {
      // Exiting anyway: the next publish on this host removes it.
    }
  }
}
