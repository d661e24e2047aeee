/**
 * `artifactFiles(source)`: what an artifact holds, file by file (sha256 and size), read from its
 * stream without extracting anything, so a publisher can compare a directory with a release in
 * storage. Nothing is written; the artifact's own sha256 and size come back with the files, and
 * the caller holds them to what it expects before it trusts the list.
 */
import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import type { ManifestFile } from '@relup/core'
import { Parser, type ReadEntry } from 'tar'
import type { ArtifactSource } from './types.js'

export interface ArtifactFilesOptions {
  /** Which files to hash (release paths); the others are skipped, only decompressed. Default: all. */
  include?: ((path: string) => boolean) | undefined
  /** Stop reading once the source passes this many bytes (the size the release names). */
  maxBytes?: number | undefined
}

export interface ArtifactFiles {
  /** sha256 of the artifact's bytes, lowercase hex. */
  sha256: string
  size: number
  /** The files included, by release path. */
  files: Record<string, ManifestFile>
}

export async function artifactFiles(
  source: ArtifactSource,
  options: ArtifactFilesOptions = {},
): Promise<ArtifactFiles> {
  const digest = createHash('sha256')
  const files: Record<string, ManifestFile> = {}
  let size = 0
  const parser = new Parser({ strict: true, brotli: false, zstd: false })
  parser.on('entry', (entry: ReadEntry) => {
    const path = entry.path
    if (entry.type !== 'File' || !(options.include?.(path) ?? true)) {
      entry.resume()
      return
    }
    const hash = createHash('sha256')
    let bytes = 0
    entry.on('data', (chunk: Buffer) => {
      hash.update(chunk)
      bytes += chunk.length
    })
    entry.on('end', () => {
      files[path] = { sha256: hash.digest('hex'), size: bytes }
    })
  })
  let failure: Error | undefined
  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve)
    parser.on('error', (error: Error) => {
      failure ??= error
      reject(error)
    })
  })
  parsed.catch(() => {}) // seen by the writer below
  await pipeline(
    source,
    async function* (chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        size += chunk.byteLength
        if (options.maxBytes !== undefined && size > options.maxBytes)
          throw new Error(`the artifact is larger than the expected ${options.maxBytes} bytes`)
        digest.update(chunk)
        yield chunk
      }
    },
    createGunzip(),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (failure) callback(failure)
        else if (parser.write(chunk)) callback()
        else parser.once('drain', () => callback(failure))
      },
      final(callback) {
        parser.end()
        parsed.then(() => callback(), callback)
      },
    }),
  )
  return { sha256: digest.digest('hex'), size, files }
}
