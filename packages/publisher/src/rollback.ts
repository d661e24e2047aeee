/**
 * Rolling back: point the fleet at an earlier published version again. Its artifact is immutable
 * and kept; the rollback is a new hot upgrade (new upgradeId and publishedAt, the target's
 * content, signed again when asked), with the same lock, wait and outcome as a publish.
 */
import { signHotUpgrade } from '@relup/artifact'
import { type HotUpgrade, listAll, newHotUpgrade, type RelupKeys, relupKeys, type Storage } from '@relup/core'
import { deploy, requireCapabilities, withLock } from './deploy.js'
import { NothingToRollBackError } from './errors.js'
import { publishHistory } from './history.js'
import { whoAmI } from './lock.js'
import { readPointer } from './pointer.js'
import type { DeployOptions, PublishOutcome } from './types.js'

export interface RollbackOptions extends DeployOptions {
  /** The version to go back to. Default: the last published version before the current one. */
  to?: string | undefined
}

/** The published upgrade to go back to: the latest `to` on the running base, else the one before the running one. */
function pickTarget(candidates: HotUpgrade[], running: HotUpgrade, app: string, to: string | undefined) {
  if (to !== undefined) {
    const target = candidates.filter((h) => h.version === to).at(-1)
    if (target) return target
    const versions = [...new Set(candidates.map((h) => h.version))]
    throw new NothingToRollBackError(
      `no published version ${to} for base ${running.baseRef}; known versions: ${versions.join(', ') || 'none'}`,
    )
  }
  const target = candidates
    .filter((h) => h.upgradeId < running.upgradeId && h.artifact.sha256 !== running.artifact.sha256)
    .at(-1)
  if (target) return target
  throw new NothingToRollBackError(`no earlier version of ${app} on base ${running.baseRef} to roll back to`)
}

/** Whether the artifact is still stored; the listing stops at the first page that has it. */
async function artifactStored(storage: Storage, keys: RelupKeys, key: string): Promise<boolean> {
  for await (const item of listAll(storage, keys.artifactsPrefix)) if (item.key === key) return true
  return false
}

export async function rollback(options: RollbackOptions): Promise<PublishOutcome> {
  const started = performance.now()
  const { storage } = options
  requireCapabilities(storage)
  const keys = relupKeys(options.app, { prefix: options.prefix })
  const running = (await readPointer(storage, keys))?.pointer.hot
  if (!running)
    throw new NothingToRollBackError(`${options.app} runs no hot upgrade: there is nothing to roll back`)
  const candidates = (await publishHistory(storage, options.app, options.prefix)).filter(
    (h) => h.baseRef === running.baseRef,
  )
  const target = pickTarget(candidates, running, options.app, options.to)
  if (!(await artifactStored(storage, keys, target.artifact.key))) {
    throw new NothingToRollBackError(
      `the artifact of ${target.version} (${target.artifact.key}) is no longer in storage; publish it again instead`,
    )
  }
  return withLock(options, keys, `rollback to ${target.version}`, async (lock) => {
    let hot = newHotUpgrade({
      version: target.version,
      sourceRef: target.sourceRef,
      baseRef: target.baseRef,
      artifact: target.artifact,
      manifest: target.manifest,
      publishedBy: whoAmI(),
    })
    if (options.sign) hot = signHotUpgrade(hot, options.sign)
    return deploy(hot, options, keys, lock, started, true)
  })
}
