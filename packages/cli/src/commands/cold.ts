/**
 * `relup publish --cold` and `relup rollback --cold`: cold releases for machines running under
 * `relup run --app` (see @relup/publisher's publishCold). With `--expect <n>` they wait for n
 * machines' results (up to `--timeout`); without it they return once the pointer moved.
 */
import type { ColdRelease, MachineResult, Storage } from '@relup/core'
import { relupKeys } from '@relup/core'
import { coldResults, publishCold, rollbackCold } from '@relup/publisher'
import { parseCount, parseDuration } from '../args.js'
import { UsageError } from '../errors.js'
import type { Output } from '../output.js'

interface ColdInput {
  out: Output
  app: string
  storage: Storage
  prefix: string | undefined
  string(name: string): string | undefined
  flag(name: string): boolean
  signal: AbortSignal | undefined
}

/** `--command "node server.js"` → argv (split on spaces; quote nothing). */
function commandOf(value: string | undefined): string[] {
  const command = (value ?? '').split(/\s+/).filter(Boolean)
  if (command.length === 0)
    throw new UsageError('a cold release needs the command that starts it: --command "node server.js"')
  return command
}

export async function publishColdRelease(input: ColdInput, dir: string, reason: string): Promise<number> {
  const since = new Date()
  const release = await publishCold({
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    dir,
    version: input.string('version'),
    command: commandOf(input.string('command')),
    reason,
    force: input.flag('force'),
  })
  input.out.line(`published cold release ${release.version} (${release.releaseId}): ${reason}`)
  return waitForMachines(input, release, since)
}

export async function rollbackColdRelease(input: ColdInput): Promise<number> {
  const since = new Date()
  const release = await rollbackCold({
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    force: input.flag('force'),
  })
  input.out.line(`rolled back to cold release ${release.version} (${release.releaseId})`)
  return waitForMachines(input, release, since)
}

/**
 * Results of `release` that machines started after `since`: a rollback goes back to a release
 * that has results from its first time (machine clocks are trusted to within the wait's interval).
 */
async function waitForMachines(input: ColdInput, release: ColdRelease, since: Date): Promise<number> {
  const expect = input.string('expect')
  if (expect === undefined || input.flag('no-wait')) {
    input.out.data({ ok: true, release, results: [] })
    input.out.line(
      'machines under `relup run --app` cut over within their poll interval (pass --expect <n> to wait for them)',
    )
    return 0
  }
  const count = parseCount(expect, 'expect')
  const timeout = input.string('timeout')
  const deadline = Date.now() + (timeout ? parseDuration(timeout, 'timeout') : 120_000)
  const keys = relupKeys(input.app, { prefix: input.prefix })
  let done: MachineResult[] = []
  while (Date.now() < deadline && !input.signal?.aborted) {
    done = (await coldResults(input.storage, keys, release.releaseId)).filter(
      (r) => r.status !== 'pending' && Date.parse(r.startedAt) >= since.getTime(),
    )
    if (done.length >= count) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  for (const result of done)
    input.out.line(
      `  ${result.machineId}: ${result.status}${result.error ? ` (${result.error.message})` : ''}`,
    )
  const failed = done.filter((r) => r.status === 'failed').length
  const ok = done.length >= count && failed === 0
  input.out.data({ ok, release, results: done })
  if (done.length < count) input.out.error(`${done.length} of ${count} machines reported before the timeout`)
  else input.out.line(`${done.length - failed} completed, ${failed} failed`)
  return ok ? 0 : 1
}
