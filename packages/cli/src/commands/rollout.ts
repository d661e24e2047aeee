import {
  abortColdRollout,
  abortRollout,
  coldRolloutStatus,
  resumeColdRollout,
  resumeRollout,
  rolloutStatus,
} from '@relup/publisher'
import { defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import { ago, type Output, table } from '../output.js'
import { printOutcome } from '../summary.js'
import { printColdRollout } from './cold.js'
import { DEPLOY_FLAGS, DEPLOY_FLAGS_HELP, deployOptions } from './deployFlags.js'

export const rolloutCommand = defineCommand({
  name: 'rollout',
  summary: 'show, resume or abort the staged rollout in progress',
  help: `relup rollout status|resume|abort --app <name> [options]

A staged rollout (relup publish --rollout …) lives in storage: when its publisher is gone (CI
cancelled, a laptop closed) it stays at its wave, never widening unattended.

  status   the candidate, its plan and wave, and each live machine: in the wave or not, what it
           runs, its result and health figures
  resume   take the deploy lock and drive it on from its wave, as the publish would have
           (exit codes as for publish: 1 when it halts)
  abort    take the candidate out of the pointer (marked bad: no machine applies it again) and
           wait for the wave's machines to run the stable release again

  --cold   the same for the rollout of a cold release (relup publish --cold --rollout …) in
           cold.json, for machines under \`relup run --app\`

Options (resume, abort):
${DEPLOY_FLAGS_HELP}`,
  flags: { ...DEPLOY_FLAGS, cold: { type: 'boolean' } },
  needsApp: true,
  needsStorage: true,
  cancellable: true,
  notifies: true,
  async run(input) {
    const action = input.positionals[0]
    const { out, app, storage, prefix } = input
    if (input.flag('cold')) {
      if (action === 'status')
        return printColdRolloutStatus(out, await coldRolloutStatus({ storage, app, prefix }))
      if (action === 'resume' || action === 'abort') {
        const options = await deployOptions(input)
        const outcome =
          action === 'resume' ? await resumeColdRollout(options) : await abortColdRollout(options)
        return printColdRollout(out, outcome, action === 'resume' ? 'resumed' : 'aborted')
      }
    }
    if (action === 'status') {
      const status = await rolloutStatus({ storage, app, prefix })
      out.data({ ok: true, ...status })
      if (out.json) return 0
      const c = status.candidate
      out.line(
        `stable   ${status.stable ? `${status.stable.version} · upgrade ${status.stable.upgradeId}` : 'the base code'}`,
      )
      if (!c) {
        out.line('rollout  none in progress')
        return 0
      }
      out.line(
        `rollout  ${c.version} · upgrade ${c.upgradeId} · wave ${c.wave}/${c.waves} of ${c.plan} · health window ${c.healthWindowMs / 1000} s · max failures ${c.maxFailures} · wave since ${ago(c.waveStartedAt)}`,
      )
      out.line()
      out.line(
        table(
          ['MACHINE', 'IN WAVE', 'RUNS', 'RESULT', 'CALLS', 'ERRORS', '5XX', 'WHY'],
          status.machines.map((m) => [
            m.machineId,
            m.inWave ? 'yes' : 'no',
            m.version ?? 'base',
            m.status ?? '-',
            String(m.health?.calls ?? '-'),
            String(m.health?.errors ?? '-'),
            m.health ? `${m.health.serverErrors}/${m.health.responses}` : '-',
            m.error ?? '',
          ]),
        ),
      )
      return 0
    }
    if (action === 'resume' || action === 'abort') {
      const options = await deployOptions(input)
      const outcome = action === 'resume' ? await resumeRollout(options) : await abortRollout(options)
      printOutcome(out, outcome, action === 'resume' ? 'resumed' : 'aborted the rollout of')
      return outcome.ok ? 0 : 1
    }
    throw new UsageError(
      `relup rollout needs status, resume or abort${action ? `, got ${JSON.stringify(action)}` : ''}: relup rollout status --app ${app}`,
    )
  },
})

function printColdRolloutStatus(out: Output, status: Awaited<ReturnType<typeof coldRolloutStatus>>): number {
  out.data({ ok: true, ...status })
  if (out.json) return 0
  const c = status.candidate
  out.line(
    `stable   ${status.stable ? `cold release ${status.stable.version} · ${status.stable.releaseId}` : "the machines' own command"}`,
  )
  if (!c) {
    out.line('rollout  no cold rollout in progress')
    return 0
  }
  out.line(
    `rollout  cold release ${c.version} · ${c.releaseId} · wave ${c.wave}/${c.waves} of ${c.plan} · health window ${c.healthWindowMs / 1000} s · max failures ${c.maxFailures} · wave since ${ago(c.waveStartedAt)}`,
  )
  if (status.machines.length === 0) return 0
  out.line()
  out.line(
    table(
      ['MACHINE', 'IN WAVE', 'RESULT', 'WHY'],
      status.machines.map((m) => [m.machineId, m.inWave ? 'yes' : 'no', m.status ?? '-', m.error ?? '']),
    ),
  )
  return 0
}
