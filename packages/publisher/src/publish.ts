/**
 * Publishing: pack → upload the artifact (create-only) → take the lock → record the upgrade and
 * move the pointer (compare-and-swap) → wait for the machines → release the lock.
 */
import { createReadStream } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pack, signHotUpgrade } from '@relup/artifact'
import { ConfigError, newHotUpgrade, relupKeys } from '@relup/core'
import { deploy, requireCapabilities, withLock } from './deploy.js'
import { whoAmI } from './lock.js'
import { readPointer } from './pointer.js'
import type { DeployOptions, PublishOutcome } from './types.js'

export interface PublishOptions extends DeployOptions {
  /** The hot code directory to pack and publish. */
  dir: string
  /** Default: the `version` of `<dir>/package.json`, else `hot-<sha12>`. */
  version?: string | undefined
  /** The cold build this upgrade is for. Default: the pointer's current base. */
  baseRef?: string | undefined
  /** What the hot code was built from (a commit...). Default: `sha256:<artifact sha256>`. */
  sourceRef?: string | undefined
}

async function defaultVersion(dir: string, sha256: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: unknown }
    if (typeof pkg.version === 'string' && /^[A-Za-z0-9._+-]{1,64}$/.test(pkg.version)) return pkg.version
  } catch {}
  return `hot-${sha256.slice(0, 12)}`
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

export async function publish(options: PublishOptions): Promise<PublishOutcome> {
  const started = performance.now()
  const { storage, reporter } = options
  requireCapabilities(storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })

  reporter?.step?.(`packing ${options.dir}`)
  const packed = await pack(options.dir)
  try {
    const version = options.version ?? (await defaultVersion(options.dir, packed.sha256))
    const baseRef = options.baseRef ?? (await readPointer(storage, keys))?.pointer.baseRef
    if (!baseRef) {
      throw new ConfigError(
        'baseRef',
        `no machine of ${options.app} has booted against ${storage.name} yet (there is no pointer), so the base is unknown: pass --base-ref <ref>`,
      )
    }
    const key = keys.artifact(version, packed.sha256)
    reporter?.step?.(
      `uploading ${key} (${formatBytes(packed.size)}, ${Object.keys(packed.manifest.files).length} files)`,
    )
    const upload = await storage.put(key, createReadStream(packed.path), {
      ifNoneMatch: '*',
      contentLength: packed.size,
      contentType: 'application/gzip',
    })
    const artifactReused = upload.status === 'precondition-failed'
    if (artifactReused) reporter?.step?.('the same artifact is already in storage: reusing it')

    return await withLock(options, keys, `publish ${version}`, async (lock) => {
      let hot = newHotUpgrade({
        version,
        sourceRef: options.sourceRef ?? `sha256:${packed.sha256}`,
        baseRef,
        artifact: { key, sha256: packed.sha256, size: packed.size },
        manifest: packed.manifest,
        publishedBy: whoAmI(),
      })
      if (options.sign) hot = signHotUpgrade(hot, options.sign)
      return deploy(hot, options, keys, lock, started, artifactReused)
    })
  } finally {
    await rm(packed.path, { force: true })
  }
}
