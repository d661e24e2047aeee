/** The table a publish or rollback ends with, and its progress lines. */
import type { DisposeFailure, MachineResult } from '@relup/core'
import type { MachineOutcome, Reporter, RollbackOutcome } from '@relup/publisher'
import type { Output } from './output.js'
import { ago, ms, table } from './output.js'

const disposeErrorsOf = (result: MachineResult | null): DisposeFailure[] => result?.stats?.disposeErrors ?? []

/** "counter@v1 failed to dispose: socket busy; …", or a generic line when the engine gave no detail. */
function describeDisposeErrors(result: MachineResult | null): string {
  const errors = disposeErrorsOf(result)
  if (errors.length === 0) return 'old instances failed to dispose'
  return errors.map((e) => `${e.unit}@${e.version} failed to dispose: ${e.message}`).join('; ')
}

function statusCell(o: MachineOutcome): string {
  if (o.status === 'timed-out') return o.result ? 'timed out (pending)' : 'timed out (no answer)'
  if (o.status === 'absent') return `absent (last seen ${o.lastSeen ? ago(o.lastSeen) : 'never'})`
  return o.degraded ? 'completed (degraded)' : o.status
}

export function reporterFor(out: Output): Reporter {
  return {
    step: (message) => out.step(message),
    warn: (message) => out.warn(message),
    progress: (p) =>
      out.progress(
        `${p.done} of ${p.expected} machines done · ${p.completed} completed · ${p.failed} failed · ${p.pending} in progress${p.absent ? ` · ${p.absent} absent` : ''}`,
      ),
    result: (r: MachineResult) => {
      if (r.status === 'failed') out.warn(`${r.machineId} failed: ${r.error?.message ?? 'unknown error'}`)
      else if (r.stats?.degraded || disposeErrorsOf(r).length > 0)
        out.warn(`${r.machineId} completed degraded: ${describeDisposeErrors(r)}; restart it when convenient`)
      else
        out.step(`${r.machineId} completed in ${ms(r.stats?.totalMs)} ms (pause ${ms(r.stats?.pauseMs)} ms)`)
    },
  }
}

/** The last line: "all N upgraded" only when every machine waited for completed and none was left out. */
function verdict(outcome: RollbackOutcome, degraded: number): string {
  const count = (status: MachineOutcome['status']) =>
    outcome.outcomes.filter((o) => o.status === status).length
  const total = outcome.outcomes.length + outcome.missing
  const completed = count('completed')
  const others = outcome.otherBaseMachines.length
  const seconds = (outcome.durationMs / 1000).toFixed(1)
  const leftOut = others > 0 ? `${others} live machine(s) on other bases left out` : ''
  if (total === 0)
    return `done in ${seconds} s; no machine was waited for (start one, or pass --expect <n>)${leftOut ? `; ${leftOut} (exit code ${outcome.ok ? 0 : 1})` : ''}`
  if (completed === total && others === 0) {
    const restart = `${degraded} of them degraded (old instances failed to dispose): restart ${degraded === 1 ? 'it' : 'them'} when convenient`
    return `all ${total} machine(s) upgraded in ${seconds} s${degraded > 0 ? `, ${restart}` : ''}`
  }
  const parts = [
    count('failed') > 0 ? `${count('failed')} failed` : '',
    count('timed-out') + outcome.missing > 0 ? `${count('timed-out') + outcome.missing} timed out` : '',
    count('absent') > 0 ? `${count('absent')} absent (not waited for)` : '',
    leftOut,
  ].filter(Boolean)
  return `${completed} of ${total} machine(s) upgraded in ${seconds} s${degraded > 0 ? ` (${degraded} degraded)` : ''}; ${parts.join(', ')} (exit code ${outcome.ok ? 0 : 1})`
}

export function printOutcome(out: Output, outcome: RollbackOutcome, verb: string): void {
  const { upgrade } = outcome
  const degraded = outcome.outcomes.filter((o) => o.degraded).length
  out.data({
    ok: outcome.ok,
    version: upgrade?.version ?? null,
    upgradeId: upgrade?.upgradeId ?? null,
    baseRef: outcome.baseRef,
    artifact: upgrade?.artifact ?? null,
    artifactReused: outcome.artifactReused,
    signed: upgrade?.signature !== undefined,
    waited: outcome.waited,
    missing: outcome.missing,
    degraded,
    absent: outcome.outcomes.filter((o) => o.status === 'absent').length,
    otherBaseMachines: outcome.otherBaseMachines,
    replacedLock: outcome.replacedLock,
    durationMs: Math.round(outcome.durationMs),
    rollout: outcome.rollout ?? null,
    machines: outcome.outcomes.map((o) => ({
      machineId: o.machineId,
      region: o.region,
      status: o.status,
      degraded: o.degraded,
      lastSeen: o.lastSeen,
      modulesReloaded: o.result?.stats?.modulesReloaded ?? null,
      moduleNames: o.result?.stats?.moduleNames ?? null,
      unitsMigrated: o.result?.stats?.unitsMigrated ?? null,
      unitNames: o.result?.stats?.unitNames ?? null,
      pauseMs: o.result?.stats?.pauseMs ?? null,
      downloadMs: o.result?.stats?.downloadMs ?? null,
      totalMs: o.result?.stats?.totalMs ?? null,
      error: o.result?.error?.message ?? null,
      health: o.result?.health ?? null,
      disposeErrors: disposeErrorsOf(o.result),
    })),
  })
  if (out.json) return
  if (!upgrade) {
    out.line(`${verb} the base code of ${outcome.baseRef}: machines that start boot it`)
    return
  }
  out.line(`${verb} ${upgrade.version} (upgrade ${upgrade.upgradeId}) on base ${upgrade.baseRef}`)
  const rollout = outcome.rollout
  if (rollout) {
    const waves = rollout.waves
      .map((w) => `wave ${w.wave + 1}: ${w.machines.join(', ') || 'none'}`)
      .join(' · ')
    out.line(`rollout ${rollout.plan}: ${waves}`)
    if (rollout.state === 'promoted')
      out.line(`every wave passed its health window: ${upgrade.version} is the stable release`)
    if (rollout.state === 'halted') {
      for (const f of rollout.failures) out.line(`HALTED: ${f.machineId} ${f.status}: ${f.reason}`)
      out.line(
        `the pointer went back to the stable release and upgrade ${upgrade.upgradeId} is marked bad (no machine applies it again); ` +
          (rollout.revertMs === null
            ? 'not every machine of the wave was back on stable within the timeout: see `relup status`'
            : `the wave's machines were back on stable in ${(rollout.revertMs / 1000).toFixed(1)} s`),
      )
    }
  }
  if (!outcome.waited) {
    out.line('not waiting for machines (--no-wait); follow with `relup status`')
    if (outcome.otherBaseMachines.length > 0)
      out.line(
        `${outcome.otherBaseMachines.length} live machine(s) on other bases left out (exit code ${outcome.ok ? 0 : 1})`,
      )
    return
  }
  if (outcome.outcomes.length > 0) {
    out.line()
    out.line(
      table(
        ['MACHINE', 'REGION', 'STATUS', 'MODULES', 'PAUSE MS', 'TOTAL MS', 'ERROR'],
        outcome.outcomes.map((o) => [
          o.machineId,
          o.region ?? '-',
          statusCell(o),
          o.result?.stats ? String(o.result.stats.modulesReloaded) : '-',
          ms(o.result?.stats?.pauseMs),
          ms(o.result?.stats?.totalMs),
          o.degraded ? describeDisposeErrors(o.result) : (o.result?.error?.message ?? ''),
        ]),
      ),
    )
  }
  if (outcome.missing > 0) out.line(`${outcome.missing} expected machine(s) never answered (timed out)`)
  for (const m of outcome.otherBaseMachines)
    out.line(
      `left out: ${m.machineId} runs base ${m.baseRef} (${m.version ?? 'base code'}), seen ${ago(m.lastSeen)}`,
    )
  out.line()
  out.line(verdict(outcome, degraded))
}
