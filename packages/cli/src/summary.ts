/** The table a publish or rollback ends with, and its progress lines. */
import type { DisposeFailure, MachineResult } from '@relup/core'
import type { MachineOutcome, PublishOutcome, Reporter } from '@relup/publisher'
import type { Output } from './output.js'
import { ms, table } from './output.js'

const disposeErrorsOf = (result: MachineResult | null): DisposeFailure[] => result?.stats?.disposeErrors ?? []

/** "counter@v1 failed to dispose: socket busy; …", or a generic line when the engine gave no detail. */
function describeDisposeErrors(result: MachineResult | null): string {
  const errors = disposeErrorsOf(result)
  if (errors.length === 0) return 'old instances failed to dispose'
  return errors.map((e) => `${e.unit}@${e.version} failed to dispose: ${e.message}`).join('; ')
}

function statusCell(o: MachineOutcome): string {
  if (o.status === 'timed-out') return o.result ? 'timed out (pending)' : 'timed out (no answer)'
  return o.degraded ? 'completed (degraded)' : o.status
}

export function reporterFor(out: Output): Reporter {
  return {
    step: (message) => out.step(message),
    warn: (message) => out.warn(message),
    progress: (p) =>
      out.progress(
        `${p.done} of ${p.expected} machines done · ${p.completed} completed · ${p.failed} failed · ${p.pending} in progress`,
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

export function printOutcome(out: Output, outcome: PublishOutcome, verb: string): void {
  const { upgrade } = outcome
  const degraded = outcome.outcomes.filter((o) => o.degraded).length
  out.data({
    ok: outcome.ok,
    version: upgrade.version,
    upgradeId: upgrade.upgradeId,
    baseRef: upgrade.baseRef,
    artifact: upgrade.artifact,
    artifactReused: outcome.artifactReused,
    signed: upgrade.signature !== undefined,
    waited: outcome.waited,
    missing: outcome.missing,
    degraded,
    durationMs: Math.round(outcome.durationMs),
    machines: outcome.outcomes.map((o) => ({
      machineId: o.machineId,
      region: o.region,
      status: o.status,
      degraded: o.degraded,
      modulesReloaded: o.result?.stats?.modulesReloaded ?? null,
      moduleNames: o.result?.stats?.moduleNames ?? null,
      unitsMigrated: o.result?.stats?.unitsMigrated ?? null,
      unitNames: o.result?.stats?.unitNames ?? null,
      pauseMs: o.result?.stats?.pauseMs ?? null,
      downloadMs: o.result?.stats?.downloadMs ?? null,
      totalMs: o.result?.stats?.totalMs ?? null,
      error: o.result?.error?.message ?? null,
      disposeErrors: disposeErrorsOf(o.result),
    })),
  })
  if (out.json) return
  out.line(`${verb} ${upgrade.version} (upgrade ${upgrade.upgradeId}) on base ${upgrade.baseRef}`)
  if (!outcome.waited) {
    out.line('not waiting for machines (--no-wait); follow with `relup status`')
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
  const completed = outcome.outcomes.filter((o) => o.status === 'completed').length
  const total = outcome.outcomes.length + outcome.missing
  out.line()
  const seconds = (outcome.durationMs / 1000).toFixed(1)
  const restart = `${degraded} of them degraded (old instances failed to dispose): restart ${degraded === 1 ? 'it' : 'them'} when convenient`
  out.line(
    total === 0
      ? `done in ${seconds} s; no machine was waited for (start one, or pass --expect <n>)`
      : outcome.ok
        ? `all ${total} machine(s) upgraded in ${seconds} s${degraded > 0 ? `, ${restart}` : ''}`
        : `${completed} of ${total} machine(s) upgraded${degraded > 0 ? ` (${degraded} degraded)` : ''}; the others failed or timed out (exit code 1)`,
  )
}
