/**
 * `planPublish` before a hot publish: the hot code is checked once, and `publish({ checked })`
 * reuses that check instead of running it again, as long as the machines still run the release
 * it was checked against.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { planPublish, publish, ReleaseCheckError } from '../src/index.js'
import { APP, bootPointer, freshStorage, pointerOf, recordingReporter, tempDir } from './helpers.js'

/** A hot directory whose every check warns once (an optional require of a package not installed). */
async function hotCode(version: number): Promise<string> {
  const dir = join(await tempDir('plan'), 'hot')
  await mkdir(dir, { recursive: true })
  await writeFile(
    join(dir, 'handler.cjs'),
    `exports.v = ${version}\nexports.pretty = () => { try { return require('pino-pretty') } catch { return null } }\n`,
  )
  return dir
}

const checking = (steps: string[]) => steps.filter((step) => step.startsWith('checking '))

describe('planPublish, then publish', () => {
  it('runs the hot checks once: the publish reuses the plan’s (one checking step, one warning)', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const dir = await hotCode(1)
    const { reporter, steps, warnings } = recordingReporter()
    const plan = await planPublish({ storage, app: APP, dir, reporter })
    expect(plan.reasons).toEqual([])
    const outcome = await publish({ storage, app: APP, dir, wait: false, reporter, checked: plan.checked })
    expect(outcome.ok).toBe(true)
    expect((await pointerOf(storage)).hot?.upgradeId).toBe(outcome.upgrade.upgradeId)
    expect(checking(steps)).toHaveLength(1)
    expect(steps).toContain(`the checks of ${dir} already ran: not running them again`)
    expect(warnings).toEqual([expect.stringMatching(/Cannot find package 'pino-pretty'/)])
  })

  it('checks again when the machines’ release changed since the plan (another publish in between)', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const dir = await hotCode(2)
    const { reporter, steps } = recordingReporter()
    const plan = await planPublish({ storage, app: APP, dir, reporter })
    await publish({ storage, app: APP, dir: await hotCode(3), wait: false })
    await publish({ storage, app: APP, dir, wait: false, reporter, checked: plan.checked })
    expect(checking(steps)).toHaveLength(2)
  })

  it('a problem the plan found stops the publish at its checks, without checking again, nothing written', async () => {
    const storage = freshStorage()
    await bootPointer(storage)
    const before = await pointerOf(storage)
    const dir = join(await tempDir('plan'), 'hot')
    await mkdir(dir)
    await writeFile(join(dir, 'handler.js'), 'module.exports = (\n')
    const { reporter, steps } = recordingReporter()
    const plan = await planPublish({ storage, app: APP, dir, reporter })
    expect(plan.reasons).toEqual([])
    const error = await publish({
      storage,
      app: APP,
      dir,
      wait: false,
      reporter,
      checked: plan.checked,
    }).then(
      () => null,
      (error: unknown) => error,
    )
    expect(error).toBeInstanceOf(ReleaseCheckError)
    expect(checking(steps)).toHaveLength(1)
    expect(await pointerOf(storage)).toEqual(before)
  })
})
