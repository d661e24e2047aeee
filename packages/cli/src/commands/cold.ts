/**
 * `relup publish --cold` and `relup rollback --cold`: cold releases for machines running under
 * `relup run --app` (see @relup/publisher's publishCold). Like a hot publish they wait for the
 * fleet: the machines that reported recently (or `--expect <n>`), each until its result is final
 * or it is counted absent, up to `--timeout`; `--no-wait` returns once the pointer moved.
 */
import { loadKey } from '@relup/artifact'
import type { ColdRelease, MachineRecord, Storage } from '@relup/core'
import {
  type ColdWaitOutcome,
  coldFleet,
  coldReach,
  publishCold,
  rollbackCold,
  waitForColdRelease,
} from '@relup/publisher'
import { parseCount, parseDuration } from '../args.js'
import { UsageError } from '../errors.js'
import { ago, type Output, table } from '../output.js'
import { reporterFor } from '../summary.js'

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

/** Waves and health gates are for hot upgrades only (so far): a flag asking for them is not ignored. */
function refuseRollout(input: ColdInput): void {
  const asked = ['rollout', 'health-window', 'max-failures'].filter(
    (flag) => input.string(flag) !== undefined,
  )
  if (asked.length > 0)
    throw new UsageError(
      `a cold release goes to every machine at once: staged rollouts (${asked.map((f) => `--${f}`).join(', ')}) ` +
        'are for hot upgrades only; drop them',
    )
}

async function signingKey(input: ColdInput) {
  const sign = input.string('sign')
  return sign ? await loadKey(sign) : undefined
}

export async function publishColdRelease(input: ColdInput, dir: string, reason: string): Promise<number> {
  refuseRollout(input)
  const command = commandOf(input.string('command'))
  const sign = await signingKey(input)
  // Read before the pointer moves, so a fast machine is not missed.
  const fleet = await coldFleet(input.storage, input.app, input.prefix)
  const release = await publishCold({
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    dir,
    version: input.string('version'),
    command,
    reason,
    force: input.flag('force'),
    sign,
  })
  input.out.line(
    `published cold release ${release.version} (${release.releaseId})${release.signature ? ' · signed' : ''}: ${reason}`,
  )
  return waitForMachines(input, release, fleet)
}

export async function rollbackColdRelease(input: ColdInput): Promise<number> {
  refuseRollout(input)
  const sign = await signingKey(input)
  const fleet = await coldFleet(input.storage, input.app, input.prefix)
  const release = await rollbackCold({
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    force: input.flag('force'),
    sign,
  })
  input.out.line(
    `rolled back to cold release ${release.version} (new release ${release.releaseId})${release.signature ? ' · signed' : ''}`,
  )
  return waitForMachines(input, release, fleet)
}

async function waitForMachines(
  input: ColdInput,
  release: ColdRelease,
  fleet: readonly MachineRecord[],
): Promise<number> {
  const { out } = input
  const { reached, leftOut } = coldReach(input.app, fleet)
  for (const { machine, why } of leftOut) out.warn(`${machine.machineId} is left out, not waited for: ${why}`)
  if (input.flag('no-wait')) {
    out.data({ ok: true, release, waited: false, missing: 0, machines: [] })
    out.line('not waiting for machines (--no-wait); follow with `relup status`')
    return 0
  }
  const expect = input.string('expect')
  const timeout = input.string('timeout')
  const ackTimeout = input.string('ack-timeout')
  const count = expect === undefined ? reached.length : parseCount(expect, 'expect')
  const timeoutMs = timeout ? parseDuration(timeout, 'timeout') : 120_000
  if (count === 0 && leftOut.length > 0)
    out.warn(
      `none of the ${leftOut.length} live machine(s) runs under relup run --app ${input.app}: the cold release reaches none of them`,
    )
  else if (count === 0) out.warn('no machine reported recently: nothing to wait for')
  else out.step(`waiting for ${count} machine(s) (timeout ${Math.round(timeoutMs / 1000)} s)`)
  const reporter = reporterFor(out)
  const started = performance.now()
  const outcome: ColdWaitOutcome = await waitForColdRelease({
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    release,
    expected: fleet,
    expect: expect === undefined ? undefined : count,
    timeoutMs,
    ackTimeoutMs: ackTimeout ? parseDuration(ackTimeout, 'ack-timeout') : undefined,
    signal: input.signal,
    onProgress: reporter.progress,
    onResult: (result) =>
      result.status === 'failed'
        ? out.warn(`${result.machineId} failed: ${result.error?.message ?? 'unknown error'}`)
        : out.step(`${result.machineId} runs cold release ${release.version}`),
    onAbsent: (machine, graceMs) =>
      out.warn(
        `${machine.machineId} did not acknowledge the cold release within ${Math.round(graceMs / 1000)} s ` +
          `(last seen ${ago(machine.updatedAt)}): counted absent, not waited for. A machine under ` +
          '`relup run --app` takes it when it polls again; one without a supervisor never does',
      ),
    onStorageError: (error) =>
      out.warn(
        `storage failed while waiting for the machines (${(error as Error).message}); still waiting until the timeout`,
      ),
  })
  const { outcomes, missing, ok } = outcome
  out.data({
    ok,
    release,
    waited: true,
    missing,
    leftOut: outcome.leftOut.map(({ machine, why }) => ({ machineId: machine.machineId, why })),
    durationMs: Math.round(performance.now() - started),
    machines: outcomes.map((o) => ({
      machineId: o.machineId,
      status: o.status,
      lastSeen: o.lastSeen,
      error: o.result?.error?.message ?? null,
    })),
  })
  if (outcomes.length + outcome.leftOut.length > 0) {
    out.line()
    out.line(
      table(
        ['MACHINE', 'STATUS', 'ERROR'],
        [
          ...outcomes.map((o) => [
            o.machineId,
            o.status === 'absent' ? `absent (last seen ${o.lastSeen ? ago(o.lastSeen) : 'never'})` : o.status,
            o.result?.error?.message ?? '',
          ]),
          ...outcome.leftOut.map(({ machine, why }) => [machine.machineId, 'left out', why]),
        ],
      ),
    )
  }
  const by = (status: string) => outcomes.filter((o) => o.status === status).length
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  if (missing > 0) out.error(`${missing} of ${count} machine(s) did not report before the timeout`)
  out.line()
  out.line(
    outcomes.length === 0 && missing === 0
      ? `done; no machine was waited for (start one under relup run --app, or pass --expect <n>)` +
          (outcome.leftOut.length > 0 ? `; ${outcome.leftOut.length} left out (exit code ${ok ? 0 : 1})` : '')
      : `${by('completed')} of ${count} machine(s) run cold release ${release.version} after ${seconds} s` +
          [
            by('failed') ? `, ${by('failed')} failed` : '',
            by('timed-out') ? `, ${by('timed-out')} timed out` : '',
            by('absent') ? `, ${by('absent')} absent (not waited for)` : '',
            outcome.leftOut.length ? `, ${outcome.leftOut.length} left out (not under relup run --app)` : '',
          ].join('') +
          ` (exit code ${ok ? 0 : 1})`,
  )
  return ok ? 0 : 1
}
