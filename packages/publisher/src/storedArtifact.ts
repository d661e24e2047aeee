/**
 * What is really stored under an artifact key: streamed through sha256 (never buffered whole)
 * and measured, before a publish reuses it or a rollback or repair points machines at it.
 */
import { createHash } from 'node:crypto'
import type { ArtifactRef, Storage } from '@relup/core'

export type StoredArtifact =
  | { status: 'ok'; etag: string }
  | { status: 'missing' }
  /** Other bytes than the upgrade names: machines would refuse it with a sha256 mismatch. */
  | { status: 'corrupt'; etag: string; sha256: string; size: number }

export async function checkStoredArtifact(
  storage: Storage,
  artifact: ArtifactRef,
  signal?: AbortSignal | undefined,
): Promise<StoredArtifact> {
  const got = await storage.getStream(artifact.key, { signal })
  if (got.status !== 'ok') return { status: 'missing' }
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of got.body) {
    hash.update(chunk as Uint8Array)
    size += (chunk as Uint8Array).length
  }
  const sha256 = hash.digest('hex')
  return sha256 === artifact.sha256 && size === artifact.size
    ? { status: 'ok', etag: got.etag }
    : { status: 'corrupt', etag: got.etag, sha256, size }
}

/** "sha256 3f2a…, 12 bytes; expected 9c1b…, 4096 bytes" */
export function describeCorruption(found: { sha256: string; size: number }, artifact: ArtifactRef): string {
  return `sha256 ${found.sha256.slice(0, 12)}…, ${found.size} bytes; expected ${artifact.sha256.slice(0, 12)}…, ${artifact.size} bytes`
}
