/**
 * Publishing: check the hot code with the machines' loader rules (a problem stops everything
 * before any storage write) → pack → upload the artifact (create-only; an artifact already there
 * is verified before it is reused) → take the lock → record the upgrade and move the pointer
 * (compare-and-swap) → wait for the machines → release the lock.
 */
import { createReadStream } from 'node:fs'
import { readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { type PackedArtifact, pack, signHotUpgrade } from '@relup/artifact'
import { ConfigError, type ModuleManifest, newHotUpgrade, relupKeys, type Storage } from '@relup/core'
import type { ReleaseCheck } from '@relup/swap'
import { cancelled, throwIfCancelled } from './cancellation.js'
import { collectWarnings, deploy, requireCapabilities, type Warnings, withLock } from './deploy.js'
import { gcAfterPublish, requireStoredArtifact } from './gc.js'
import { whoAmI } from './lock.js'
import { measureDeploy } from './metrics.js'
import { readPointer } from './pointer.js'
import { type CheckedHotCode, checkHotCode, manifestToPublish } from './releaseCheck.js'
import { checkRolloutOptions } from './rollout.js'
import { checkStoredArtifact, describeCorruption } from './storedArtifact.js'
import { sweepTempArtifacts, tempArtifactPath } from './tempArtifacts.js'
import type { DeployOptions, PublishOutcome, Reporter } from './types.js'

export interface PublishOptions extends DeployOptions {
  /** The hot code directory to pack and publish. */
  dir: string
  /** Default: the `version` of `<dir>/package.json`, else `hot-<sha12>`. */
  version?: string | undefined
  /** The cold build this upgrade is for. Default: the pointer's current base. */
  baseRef?: string | undefined
  /** What the hot code was built from (a commit...). Default: `sha256:<artifact sha256>`. */
  sourceRef?: string | undefined
  /**
   * Publish without checking the hot code first (the machines' loader rules, host package
   * versions: see `checkHotCode`). The manifest then records no host package versions.
   */
  skipChecks?: boolean | undefined
  /**
   * The checks `planPublish` already ran on `dir`: reused (not run again) when they were for the
   * release the machines still run, else run again.
   */
  checked?: CheckedHotCode | undefined
  /**
   * The retention policy (`gc`) once the publish is done (default on, keeping `DEFAULT_KEEP`
   * publishes); false skips it. A failure there is a warning, never a failed publish.
   */
  gc?: boolean | { keep?: number | undefined } | undefined
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

/** The hot code must be a directory: anything else is a configuration error, said before packing. */
async function requireDirectory(dir: string): Promise<void> {
  const stats = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT')
      throw new ConfigError('dir', `${dir} does not exist: publish takes the directory of the app's hot code`)
    throw error
  })
  if (!stats.isDirectory())
    throw new ConfigError(
      'dir',
      `${dir} is a file, not a directory: publish takes the directory of the app's hot code`,
    )
}

/** Pack into this process's temp file; a cancel does not wait for the pack (its file is removed when it ends). */
async function packCancellably(dir: string, signal: AbortSignal | undefined): Promise<PackedArtifact> {
  const packing = pack(dir, { out: tempArtifactPath() })
  if (!signal) return packing
  let onAbort = () => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      void packing.then((packed) => rm(packed.path, { force: true })).catch(() => {})
      reject(cancelled(signal, 'cancelled while packing', 'nothing was uploaded'))
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([packing, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/**
 * Upload the artifact create-only. One already stored under its key is streamed through sha256
 * first: reused when intact, replaced (compare-and-swap) when corrupt. True when reused.
 */
async function uploadArtifact(
  storage: Storage,
  key: string,
  packed: PackedArtifact,
  context: { signal: AbortSignal | undefined; reporter: Reporter | undefined; warnings: Warnings },
): Promise<boolean> {
  const ref = { key, sha256: packed.sha256, size: packed.size }
  const put = (condition: { ifNoneMatch: '*' } | { ifMatch: string }) =>
    storage.put(key, createReadStream(packed.path), {
      ...condition,
      contentLength: packed.size,
      contentType: 'application/gzip',
      signal: context.signal,
    })
  for (let round = 0; round < 3; round++) {
    if ((await put({ ifNoneMatch: '*' })).status === 'ok') return false
    const stored = await checkStoredArtifact(storage, ref, context.signal)
    if (stored.status === 'ok') {
      context.reporter?.step?.('the same artifact is already in storage (verified): reusing it')
      return true
    }
    if (stored.status === 'missing') continue // deleted meanwhile: create it again
    context.warnings.warn(
      `the artifact already stored at ${key} is corrupt (${describeCorruption(stored, ref)}): replacing it`,
    )
    if ((await put({ ifMatch: stored.etag })).status === 'ok') return false
  }
  throw new Error(`${key} kept changing while uploading it; try again`)
}

export function publish(options: PublishOptions): Promise<PublishOutcome> {
  return measureDeploy('publish', options, () => publishOnce(options))
}

async function publishOnce(options: PublishOptions): Promise<PublishOutcome> {
  const started = performance.now()
  const { storage, reporter, signal } = options
  const warnings = collectWarnings(reporter)
  requireCapabilities(storage)
  checkRolloutOptions(options.rollout) // a bad plan stops it before anything is written
  const keys = relupKeys(options.app, { prefix: options.prefix })
  await requireDirectory(options.dir)
  const swept = await sweepTempArtifacts()
  if (swept.length > 0)
    reporter?.step?.(
      `removed ${swept.length} temporary artifact(s) left by publishers that are no longer running`,
    )

  // Read before anything is packed: the base, and what its machines run (for the checks).
  const pointer = options.baseRef
    ? await readPointer(storage, keys).catch(() => null) // unknown then; the deploy reads it again
    : await readPointer(storage, keys)
  const base = options.baseRef ?? pointer?.pointer.baseRef
  if (!base) {
    throw new ConfigError(
      'baseRef',
      `no machine of ${options.app} has booted against ${storage.name} yet (there is no pointer), so the base is unknown: pass --base-ref <ref>`,
    )
  }
  let check: ReleaseCheck | null = null
  if (!options.skipChecks) {
    const hot = pointer?.pointer.baseRef === base ? pointer.pointer.hot : null
    const checked = options.checked
    if (
      checked?.dir === options.dir &&
      checked.base === base &&
      checked.against === (hot?.upgradeId ?? null)
    ) {
      reporter?.step?.(`the checks of ${options.dir} already ran: not running them again`)
      if (checked.outcome instanceof Error) throw checked.outcome
      check = checked.outcome
    } else {
      reporter?.step?.(`checking ${options.dir} with the machines' loader rules`)
      check = await checkHotCode(options.dir, {
        previous: hot?.manifest,
        warn: (message) => warnings.warn(message),
      })
    }
  }
  throwIfCancelled(signal, 'cancelled before packing', 'nothing was published')

  reporter?.step?.(`packing ${options.dir}`)
  const packed = await packCancellably(options.dir, signal)
  let version: string
  let manifest: ModuleManifest
  let artifactReused: boolean
  const key = () => keys.artifact(version, packed.sha256)
  try {
    manifest = manifestToPublish(options.dir, packed, check)
    version = options.version ?? (await defaultVersion(options.dir, packed.sha256))
    throwIfCancelled(signal, 'cancelled before uploading', 'nothing was published')
    reporter?.step?.(
      `uploading ${key()} (${formatBytes(packed.size)}, ${Object.keys(packed.manifest.files).length} files)`,
    )
    artifactReused = await uploadArtifact(storage, key(), packed, { signal, reporter, warnings }).catch(
      (error: unknown) => {
        throw signal?.aborted
          ? cancelled(signal, 'cancelled while uploading', 'nothing was published')
          : error
      },
    )
  } finally {
    // The artifact is in storage (or the publish failed): the local copy is not needed while waiting.
    await rm(packed.path, { force: true })
  }
  const outcome = await withLock(options, keys, `publish ${version}`, warnings, async (lock) => {
    let hot = newHotUpgrade({
      version,
      sourceRef: options.sourceRef ?? `sha256:${packed.sha256}`,
      baseRef: base,
      artifact: { key: key(), sha256: packed.sha256, size: packed.size },
      manifest,
      publishedBy: whoAmI(),
    })
    if (options.sign) hot = signHotUpgrade(hot, options.sign)
    await requireStoredArtifact(storage, hot.artifact, options.app)
    return deploy({ hot }, options, keys, lock, { started, artifactReused, warnings })
  })
  await gcAfterPublish(options, options.gc, (message) => warnings.warn(message))
  return outcome
}
