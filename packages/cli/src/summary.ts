/** The table a publish or rollback ends with, and its progress lines. */
import type { MachineResult } from '@relup/core'
import type { Output } from './output.js'
import { ms, table } from './output.js'
import type { PublishOutcome, Reporter } from './publisher.js'

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
      else
        out.step(`${r.machineId} completed in ${ms(r.stats?.totalMs)} ms (pause ${ms(r.stats?.pauseMs)} ms)`)
    },
  }
}

export function printOutcome(out: Output, outcome: PublishOutcome, verb: string): void {
  const { upgrade } = outcome
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
    durationMs: Math.round(outcome.durationMs),
    machines: outcome.outcomes.map((o) => ({
      machineId: o.machineId,
      region: o.region,
      status: o.status,
      modulesReloaded: o.result?.stats?.modulesReloaded ?? null,
      moduleNames: o.result?.stats?.moduleNames ?? null,
      unitsMigrated: o.result?.stats?.unitsMigrated ?? null,
      unitNames: o.result?.stats?.unitNames ?? null,
      pauseMs: o.result?.stats?.pauseMs ?? null,
      downloadMs: o.result?.stats?.downloadMs ?? null,
      totalMs: o.result?.stats?.totalMs ?? null,
      error: o.result?.error?.message ?? null,
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
          o.status === 'timed-out' ? (o.result ? 'timed out (pending)' : 'timed out (no answer)') : o.status,
          o.result?.stats ? String(o.result.stats.modulesReloaded) : '-',
          ms(o.result?.stats?.pauseMs),
          ms(o.result?.stats?.totalMs),
          o.result?.error?.message ?? '',
        ]),
      ),
    )
  }
  if (outcome.missing > 0) out.line(`${outcome.missing} expected machine(s) never answered (timed out)`)
  const completed = outcome.outcomes.filter((o) => o.status === 'completed').length
  const total = outcome.outcomes.length + outcome.missing
  out.line()
  const seconds = (outcome.durationMs / 1000).toFixed(1)
  out.line(
    total === 0
      ? `done in ${seconds} s; no machine was waited for (start one, or pass --expect <n>)`
      : outcome.ok
        ? `all ${total} machine(s) upgraded in ${seconds} s`
        : `${completed} of ${total} machine(s) upgraded; the others failed or timed out (exit code 1)`,
  )
}
