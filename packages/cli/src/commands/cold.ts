/**
 * `relup publish --cold` and `relup rollback --cold`: cold releases for machines running under
 * `relup run --app` (see @relup/publisher's publishCold). Like a hot publish they wait for the
 * fleet: the machines that reported recently (or `--expect <n>`), each until its result is final
 * or it is counted absent, up to `--timeout`; `--no-wait` returns once the pointer moved. A
 * publish rolls out in waves with health gates as a hot one does (`--rollout`, default `1,25%,100%`
 * from 4 live machines on; see @relup/publisher's publishColdRollout).
 */
import { loadKey } from '@relup/artifact'
import type { ColdRelease, MachineRecord, Notifier, Storage } from '@relup/core'
import {
  AUTO_MIN_MACHINES,
  type ColdRolloutOutcome,
  type ColdWaitOutcome,
  coldFleet,
  coldReach,
  publishCold,
  publishColdRollout,
  type RolloutOptions,
  rollbackCold,
  waitForColdRelease,
} from '@relup/publisher'
import { parseCount, parseDuration } from '../args.js'
import { UsageError } from '../errors.js'
import { ago, type Output, table } from '../output.js'
import { reporterFor } from '../summary.js'
import { rolloutFlags } from './deployFlags.js'

interface ColdInput {
  out: Output
  app: string
  storage: Storage
  prefix: string | undefined
  string(name: string): string | undefined
  flag(name: string): boolean
  signal: AbortSignal | undefined
  notifier: Notifier | undefined
}

/** `--command "node server.js"` → argv (split on spaces; quote nothing). */
function commandOf(value: string | undefined): string[] {
  const command = (value ?? '').split(/\s+/).filter(Boolean)
  if (command.length === 0)
    throw new UsageError('a cold release needs the command that starts it: --command "node server.js"')
  return command
}

/** A cold rollback goes to every machine at once (as a hot one does by default): a flag asking for waves is not ignored. */
function refuseRollout(input: ColdInput): void {
  const asked = ['rollout', 'health-window', 'max-failures'].filter(
    (flag) => input.string(flag) !== undefined,
  )
  if (asked.length > 0)
    throw new UsageError(
      `a cold rollback goes to every machine at once: drop ${asked.map((f) => `--${f}`).join(', ')} ` +
        '(to roll a release out in waves, publish it: relup publish --cold --rollout …)',
    )
}

/** The waves of a cold publish: as for a hot one (`'auto'`: the default plan from 4 live machines on). */
function coldRollout(input: ColdInput, fleet: readonly MachineRecord[]): RolloutOptions | null {
  const asked = rolloutFlags(input, true)
  if (input.string('expect') !== undefined) {
    if (asked !== undefined && asked !== 'auto')
      throw new UsageError(
        '--expect waits for a fixed number of machines all at once: drop it to roll out in waves',
      )
    return null
  }
  if (asked === 'auto') return fleet.length >= AUTO_MIN_MACHINES ? {} : null
  return asked ?? null
}

async function signingKey(input: ColdInput) {
  const sign = input.string('sign')
  return sign ? await loadKey(sign) : undefined
}

export async function publishColdRelease(input: ColdInput, dir: string, reason: string): Promise<number> {
  const command = commandOf(input.string('command'))
  const sign = await signingKey(input)
  // Read before the pointer moves, so a fast machine is not missed.
  const fleet = await coldFleet(input.storage, input.app, input.prefix)
  const rollout = coldRollout(input, fleet)
  const fields = {
    storage: input.storage,
    app: input.app,
    prefix: input.prefix,
    dir,
    version: input.string('version'),
    command,
    reason,
    force: input.flag('force'),
    sign,
  }
  if (rollout) return publishInWaves(input, fields, rollout)
  const release = await publishCold({ ...fields, notifier: input.notifier, warn: (m) => input.out.warn(m) })
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
    notifier: input.notifier,
    warn: (message) => input.out.warn(message),
  })
  input.out.line(
    `rolled back to cold release ${release.version} (new release ${release.releaseId})${release.signature ? ' · signed' : ''}`,
  )
  return waitForMachines(input, release, fleet)
}

async function publishInWaves(
  input: ColdInput,
  fields: Omit<Parameters<typeof publishColdRollout>[0], 'rollout'>,
  rollout: RolloutOptions,
): Promise<number> {
  const timeout = input.string('timeout')
  const ackTimeout = input.string('ack-timeout')
  const outcome = await publishColdRollout({
    ...fields,
    rollout,
    timeoutMs: timeout ? parseDuration(timeout, 'timeout') : undefined,
    ackTimeoutMs: ackTimeout ? parseDuration(ackTimeout, 'ack-timeout') : undefined,
    wait: !input.flag('no-wait'),
    reporter: reporterFor(input.out),
    notifier: input.notifier,
    signal: input.signal,
  })
  return printColdRollout(input.out, outcome, 'published')
}

/** What a cold rollout (its publish, resume or abort) did; the exit code: 0 when it was promoted (or not waited for). */
export function printColdRollout(
  out: Output,
  outcome: ColdRolloutOutcome,
  action: 'published' | 'resumed' | 'aborted',
): number {
  const { release, report } = outcome
  out.data({
    ok: outcome.ok,
    release,
    stable: outcome.stable,
    waited: outcome.waited,
    rollout: report,
    durationMs: Math.round(outcome.durationMs),
    machines: outcome.outcomes.map((o) => ({
      machineId: o.machineId,
      status: o.status,
      error: o.result?.error?.message ?? null,
    })),
    warnings: outcome.warnings,
  })
  const stable = outcome.stable ? `cold release ${outcome.stable.version}` : "the machines' own command"
  out.line(
    action === 'aborted'
      ? `aborted the rollout of cold release ${release.version} (${release.releaseId})`
      : `${action} cold release ${release.version} (${release.releaseId})${release.signature ? ' · signed' : ''} in waves; ${stable} stays the stable release until it is promoted`,
  )
  if (!report) {
    out.line('not waiting for machines (--no-wait); follow with `relup rollout status --cold`')
    return 0
  }
  out.line(
    `rollout ${report.plan}: ${report.waves.map((w) => `wave ${w.wave + 1}: ${w.machines.join(', ') || 'none'}`).join(' · ')}`,
  )
  if (outcome.outcomes.length > 0) {
    out.line()
    out.line(
      table(
        ['MACHINE', 'STATUS', 'ERROR'],
        outcome.outcomes.map((o) => [o.machineId, o.status, o.result?.error?.message ?? '']),
      ),
    )
    out.line()
  }
  if (report.state === 'promoted') {
    out.line(
      `every wave passed its health window: cold release ${release.version} is the stable release (exit code ${outcome.ok ? 0 : 1})`,
    )
    return outcome.ok ? 0 : 1
  }
  if (action === 'aborted') {
    out.line(
      `cold.json is back on ${stable} and release ${release.releaseId} is marked bad; ` +
        (report.revertMs === null
          ? outcome.waited
            ? 'not every machine of the wave was back on stable within the timeout: see `relup status`'
            : 'not waiting for the machines (--no-wait)'
          : `the wave's machines were back on stable in ${(report.revertMs / 1000).toFixed(1)} s`) +
        ` (exit code ${outcome.ok ? 0 : 1})`,
    )
    return outcome.ok ? 0 : 1
  }
  if (report.state === 'halted') {
    const why = report.failures.map((f) => `${f.machineId} ${f.status}: ${f.reason}`).join('; ')
    out.error(
      `the rollout of cold release ${release.version} halted${why ? ` (${why})` : ''}: cold.json is back on ${stable}, ` +
        `and release ${release.releaseId} is marked bad, so no machine starts it again. ` +
        (report.revertMs === null
          ? 'Not every machine of the wave was back on stable within the timeout: see `relup status`. '
          : `The wave's machines were back on stable in ${(report.revertMs / 1000).toFixed(1)} s. `) +
        'Fix the release and publish it again (relup publish --cold).',
    )
    return 1
  }
  out.error(
    `the rollout of cold release ${release.version} stopped at wave ${report.waves.length}: continue it with relup rollout resume --cold, or end it with relup rollout abort --cold`,
  )
  return 1
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
