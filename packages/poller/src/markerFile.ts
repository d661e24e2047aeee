/** The local marker on disk: written atomically (temp file, fsync, rename), read leniently. */
import { open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { type LocalMarker, parseLocalMarker } from '@relup/core'

export const markerPath = (stateDir: string) => join(stateDir, 'marker.json')

/** The marker, or null when there is none. A malformed marker is an error (the caller decides). */
export async function readMarker(stateDir: string): Promise<LocalMarker | null> {
  const path = markerPath(stateDir)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  return parseLocalMarker(text, path)
}

export async function writeMarker(stateDir: string, marker: LocalMarker): Promise<void> {
  await writeStateFile(stateDir, markerPath(stateDir), marker)
}

/**
 * A JSON file of the state directory, written whole or not at all and durably: a temporary file,
 * fsync, rename, then fsync of the directory. A crash never leaves half of it.
 */
export async function writeStateFile(stateDir: string, path: string, value: unknown): Promise<void> {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`
  const handle = await open(temp, 'w')
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, path)
  // Make the rename itself durable.
  const dir = await open(stateDir, 'r').catch(() => null)
  await dir?.sync().catch(() => {})
  await dir?.close()
}

export async function removeMarker(stateDir: string): Promise<void> {
  await rm(markerPath(stateDir), { force: true })
}
