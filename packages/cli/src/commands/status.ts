import { isMachineRecent, type LastResult, type Supervised } from '@relup/core'
import {
  type FleetStatus,
  isMinorityBase,
  type RolloutStatus,
  readFleetStatus,
  rolloutStatus,
} from '@relup/publisher'
import { parseDuration } from '../args.js'
import { defineCommand } from '../command.js'
import { ago, type Io, Output, table } from '../output.js'
import { type ColdStatus, coldProblems, printColdStatus, readColdStatus } from './coldStatus.js'

function lastResultCell(last: LastResult | null): string {
  if (!last) return '-'
  const status = last.status === 'completed' && last.degraded ? 'completed (degraded)' : last.status
  return `${status} ${last.version}${last.error ? `: ${last.error}` : ''}`
}

/** What makes `relup status` exit 1: what an operator (or a CI gate) must act on. */
export function fleetProblems(fleet: FleetStatus): string[] {
  const problems: string[] = []
  if (fleet.pointerProblem) problems.push('the pointer is corrupt')
  if (fleet.lockProblem) problems.push('the lock is unreadable')
  const failed = fleet.machines.filter((m) => m.state === 'failed').length
  const behind = fleet.machines.filter((m) => m.state === 'behind').length
  if (failed > 0) problems.push(`${failed} machine(s) failed`)
  if (behind > 0) problems.push(`${behind} machine(s) behind`)
  return problems
}

/** Live machines on another base: an older generation, or (a majority) the sign of a mistyped base. */
function otherBasesNote(app: string, baseRef: string, fleet: FleetStatus): string {
  const others = fleet.otherBaseMachines
  const onBase = fleet.machines.filter((m) => m.baseRef === baseRef && isMachineRecent(m)).length
  const named = `${others.length} live machine(s) run another base than the pointer's (${baseRef}): ${others.map((m) => `${m.machineId} (${m.baseRef})`).join(', ')}`
  if (!isMinorityBase(onBase, others.length))
    return `${named}; an older generation, not reached by hot upgrades`
  return (
    `${named}; hot upgrades for ${baseRef} reach at most half of the live machines. ` +
    `If ${baseRef} is a mistake (a machine started with a mistyped RELUP_BASE_REF), stop that machine and run ` +
    `\`relup repair --app ${app} --base-ref <base> --force\``
  )
}

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'the pointer, the lock and every machine',
  help: `relup status --app <name> [--storage <url>] [--watch [--interval <d>]] [--json]

The pointer (base, hot version, published when and by whom), the deploy lock, and every
machine's version, fingerprint, last result and when it was last seen. Machines that are
behind, failed or degraded (old instances failed to dispose: restart when convenient) are
flagged, and so are live machines on another base than the pointer's. With cold releases
(relup publish --cold), the cold release (version, id, published when and by whom, signed) and
each machine's cold release (from its base, cold-<releaseId>) and result. SUPERVISOR says what a
machine's runtime reports of its supervisor: relup run --app (cold releases reach it), relup run
(it does not follow them), none, or - (a runtime that does not say).

Exit code 0 when the fleet runs what the pointer says; 1 when a machine FAILED or is BEHIND,
the pointer is corrupt (run \`relup repair\`) or the lock unreadable (run \`relup unlock\`), a
machine failed the current cold release or cold.json is corrupt (publish a cold release again),
so it can gate a CI step. DEGRADED, OLDER BASE, STOPPED and not-seen-recently machines do not change
it. During a staged rollout it also shows the candidate, its plan and wave, and each machine of
the wave with its result and health figures (CANDIDATE: it runs the candidate).

--watch redraws it in place every --interval (default 1s) on a terminal, appends it when it
changed otherwise, and with --json streams one JSON document per line each time it changes;
Ctrl-C ends it (exit 0).`,
  flags: { watch: { type: 'boolean' }, interval: { type: 'string' } },
  needsApp: true,
  needsStorage: true,
  cancellable: true,
  async run(input) {
    const { out, app, storage, prefix, io, signal } = input
    const read = async () => {
      const fleet = await readFleetStatus({ storage, app, prefix })
      const rollout = fleet.pointer?.candidate ? await rolloutStatus({ storage, app, prefix }) : null
      const cold = await readColdStatus(storage, app, prefix, fleet.machines)
      return { fleet, rollout, cold }
    }
    if (input.flag('watch')) {
      const interval = input.string('interval')
      return watchStatus(io, out.json, read, interval ? parseDuration(interval, 'interval') : 1000, signal)
    }
    const { fleet, rollout, cold } = await read()
    return printStatus(out, app, fleet, rollout, cold)
  },
})

/** Read and print until the signal aborts: redrawn in place on a terminal, appended when changed otherwise. */
async function watchStatus(
  io: Io,
  json: boolean,
  read: () => Promise<{ fleet: FleetStatus; rollout: RolloutStatus | null; cold: ColdStatus }>,
  intervalMs: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  let last = ''
  const tty = io.stdout.isTTY === true && !json
  while (!signal?.aborted) {
    let text: string
    try {
      const { fleet, rollout, cold } = await read()
      if (json) {
        const problems = [...fleetProblems(fleet), ...coldProblems(cold)]
        text = `${JSON.stringify({ ok: problems.length === 0, problems, ...fleet, rollout, cold, replacedLock: null, warnings: [] })}\n`
      } else {
        let captured = ''
        const capture = {
          write: (chunk: string) => {
            captured += chunk
            return true
          },
        } as unknown as Io['stdout']
        printStatus(new Output({ ...io, stdout: capture }, false), fleet.app, fleet, rollout, cold)
        text = captured
      }
    } catch (error) {
      text = json
        ? `${JSON.stringify({ ok: false, error: (error as Error).message })}\n`
        : `cannot read the fleet: ${(error as Error).message}\n`
    }
    // Timestamps aside, nothing new: nothing to say.
    const comparable = text.replace(/\d+[smh] ago/g, '')
    if (tty) io.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}  (Ctrl-C to stop)\n${text}`)
    else if (comparable !== last) io.stdout.write(json ? text : `--- ${new Date().toISOString()}\n${text}`)
    last = comparable
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs)
      signal?.addEventListener('abort', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
  return 0
}

function printStatus(
  out: Output,
  app: string,
  fleet: FleetStatus,
  rollout: RolloutStatus | null,
  cold: ColdStatus,
): number {
  {
    const problems = [...fleetProblems(fleet), ...coldProblems(cold)]
    const code = problems.length > 0 ? 1 : 0
    out.data({ ok: code === 0, problems, ...fleet, rollout, cold })
    if (out.json) return code
    const { pointer, lock, machines } = fleet
    out.line(`app ${app} on ${fleet.storage}`)
    if (fleet.pointerProblem) out.line(`pointer  CORRUPT: ${fleet.pointerProblem}`)
    else if (!pointer) {
      out.line('no pointer yet: no machine has booted against this storage, and nothing was published')
    } else {
      const hot = pointer.hot
      out.line(
        `base     ${pointer.baseRef}${pointer.previousBases.length ? ` (previous: ${pointer.previousBases.slice(0, 3).join(', ')})` : ''} · set by ${pointer.setBy} ${ago(pointer.setAt)}`,
      )
      out.line(
        hot
          ? `hot      ${hot.version} · upgrade ${hot.upgradeId} · published ${hot.publishedAt} (${ago(hot.publishedAt)}) by ${hot.publishedBy}${hot.signature ? ' · signed' : ''}`
          : 'hot      none: machines run the base code',
      )
      out.line(`expected fingerprint ${fleet.expectedFingerprint} · pointer seq ${pointer.seq}`)
      if (rollout?.candidate) {
        const c = rollout.candidate
        out.line(
          `rollout  ${c.version} · upgrade ${c.upgradeId} · wave ${c.wave}/${c.waves} of ${c.plan} · ${rollout.machines.filter((m) => m.inWave).length} machine(s) in it · health window ${c.healthWindowMs / 1000} s · max failures ${c.maxFailures} · since ${ago(c.waveStartedAt)}`,
        )
      }
    }
    out.line(
      fleet.lockProblem
        ? `lock     UNREADABLE: ${fleet.lockProblem}`
        : lock
          ? `lock     held by ${lock.owner} since ${lock.acquiredAt} (${lock.purpose}), expires ${lock.expiresAt}`
          : 'lock     free',
    )
    printColdStatus(
      out,
      cold,
      machines.filter((m) => isMachineRecent(m)).map((m) => m.machineId),
    )
    out.line()
    if (machines.length === 0) out.line('no machine has reported yet')
    else
      out.line(
        table(
          ['MACHINE', 'REGION', 'VERSION', 'FINGERPRINT', 'LAST RESULT', 'SEEN', 'STATE', 'SUPERVISOR'],
          machines.map((m) => [
            m.machineId,
            m.region ?? '-',
            m.version ?? 'base',
            m.fingerprint,
            lastResultCell(m.lastResult),
            ago(m.updatedAt),
            m.state === 'current'
              ? 'ok'
              : m.state === 'candidate'
                ? 'CANDIDATE'
                : `<< ${m.state.toUpperCase()}`,
            supervisorCell(m.supervised),
          ]),
        ),
      )
    const degraded = machines.filter((m) => m.state === 'degraded').length
    const others = fleet.otherBaseMachines
    const notes = [
      ...(problems.length > 0 ? [`needs attention: ${problems.join(', ')} (exit code 1)`] : []),
      ...(degraded > 0
        ? [
            `${degraded} machine(s) degraded: old instances failed to dispose and may still hold resources; restart ${degraded === 1 ? 'it' : 'them'} when convenient`,
          ]
        : []),
      ...(others.length > 0 && pointer ? [otherBasesNote(app, pointer.baseRef, fleet)] : []),
    ]
    if (rollout?.candidate) {
      const wave = rollout.machines.filter((m) => m.inWave)
      out.line()
      out.line(
        wave.length === 0
          ? 'no live machine is in the wave yet'
          : table(
              ['WAVE MACHINE', 'RESULT', 'CALLS', 'ERRORS', '5XX', 'LOOP P90', 'WHY'],
              wave.map((m) => [
                m.machineId,
                m.status ?? 'not started',
                String(m.health?.calls ?? '-'),
                String(m.health?.errors ?? '-'),
                m.health ? `${m.health.serverErrors}/${m.health.responses}` : '-',
                m.health ? `${m.health.eventLoopDelayP90Ms} ms` : '-',
                m.error ?? '',
              ]),
            ),
      )
    }
    if (notes.length > 0) out.line()
    for (const note of notes) out.line(note)
    return code
  }
}

/** Whether a cold release reaches the machine: under `relup run --app`, under `relup run` alone, or no supervisor. */
function supervisorCell(supervised: Supervised | null | undefined): string {
  if (supervised === undefined) return '-' // a runtime from before relup recorded it
  if (supervised === null) return 'none'
  return supervised.followsColdReleases ? 'relup run --app' : 'relup run'
}
