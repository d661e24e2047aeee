/**
 * Rolling back: point the fleet at an earlier published version again, or back to its base code.
 * The target's artifact is verified first (streamed through sha256); the rollback is a new hot
 * upgrade (new upgradeId and publishedAt, the target's content, signed again when asked), with
 * the same lock, wait and outcome as a publish.
 */
import { signHotUpgrade } from '@relup/artifact'
import { type HotUpgrade, newHotUpgrade, relupKeys } from '@relup/core'
import { collectWarnings, deploy, requireCapabilities, withLock } from './deploy.js'
import { ArtifactCorruptError, NothingToRollBackError } from './errors.js'
import { publishHistory } from './history.js'
import { whoAmI } from './lock.js'
import { readPointer } from './pointer.js'
import { checkRolloutOptions } from './rollout.js'
import { checkStoredArtifact, describeCorruption } from './storedArtifact.js'
import type { DeployOptions, RollbackOutcome } from './types.js'

export interface RollbackOptions extends DeployOptions {
  /**
   * The version to go back to, or `'base'` for the base code (no hot upgrade). Default: the last
   * published version before the current one.
   */
  to?: string | undefined
}

/** The published upgrade to go to: the latest `to` on the base, else the one before the running one. */
function pickTarget(
  candidates: HotUpgrade[],
  running: HotUpgrade | null,
  baseRef: string,
  app: string,
  to: string | undefined,
) {
  if (to !== undefined) {
    const target = candidates.filter((h) => h.version === to).at(-1)
    if (target) return target
    const versions = [...new Set(candidates.map((h) => h.version))]
    throw new NothingToRollBackError(
      `no published version ${to} for base ${baseRef}; known versions: ${versions.join(', ') || 'none'} (or --to base)`,
    )
  }
  const target = running
    ? candidates
        .filter((h) => h.upgradeId < running.upgradeId && h.artifact.sha256 !== running.artifact.sha256)
        .at(-1)
    : undefined
  if (target) return target
  throw new NothingToRollBackError(
    `no earlier version of ${app} on base ${baseRef} to roll back to (\`--to base\` goes back to the base code)`,
  )
}

export async function rollback(options: RollbackOptions): Promise<RollbackOutcome> {
  const started = performance.now()
  const { storage, app } = options
  const warnings = collectWarnings(options.reporter)
  requireCapabilities(storage)
  checkRolloutOptions(options.rollout) // a bad plan stops it before anything is written
  const keys = relupKeys(app, { prefix: options.prefix })
  const pointer = (await readPointer(storage, keys))?.pointer
  const running = pointer?.hot ?? null
  if (!pointer || (!running && options.to === undefined))
    throw new NothingToRollBackError(`${app} runs no hot upgrade: there is nothing to roll back`)
  const context = { started, artifactReused: true, warnings }

  if (options.to === 'base') {
    if (!running)
      throw new NothingToRollBackError(
        `${app} already runs the base code of ${pointer.baseRef}: nothing to roll back`,
      )
    return withLock(options, keys, 'rollback to base', warnings, (lock) =>
      deploy({ base: pointer.baseRef }, options, keys, lock, {
        ...context,
        artifactReused: false,
        reason: 'rollback',
      }),
    )
  }

  const candidates = (await publishHistory(storage, app, options.prefix)).filter(
    (h) => h.baseRef === pointer.baseRef,
  )
  const target = pickTarget(candidates, running, pointer.baseRef, app, options.to)
  if (
    running &&
    (target.upgradeId === running.upgradeId || target.artifact.sha256 === running.artifact.sha256)
  ) {
    throw new NothingToRollBackError(
      `${target.version} is already live (upgrade ${running.upgradeId}, published ${running.publishedAt}): ` +
        'nothing to roll back; pick another version with --to (or --to base)',
    )
  }
  const stored = await checkStoredArtifact(storage, target.artifact, options.signal)
  if (stored.status === 'missing') {
    throw new NothingToRollBackError(
      `the artifact of ${target.version} (${target.artifact.key}) is no longer in storage; publish it again instead`,
    )
  }
  if (stored.status === 'corrupt') {
    throw new ArtifactCorruptError(
      `the artifact of ${target.version} (${target.artifact.key}) is corrupt in storage ` +
        `(${describeCorruption(stored, target.artifact)}): machines would refuse it. Publish ${target.version} ` +
        'again (the same build replaces the corrupt object), then roll back or simply keep that publish',
    )
  }
  return withLock(options, keys, `rollback to ${target.version}`, warnings, async (lock) => {
    let hot = newHotUpgrade({
      version: target.version,
      sourceRef: target.sourceRef,
      baseRef: target.baseRef,
      artifact: target.artifact,
      manifest: target.manifest,
      publishedBy: whoAmI(),
    })
    if (options.sign) hot = signHotUpgrade(hot, options.sign)
    return deploy({ hot }, options, keys, lock, { ...context, reason: 'rollback' })
  })
}
