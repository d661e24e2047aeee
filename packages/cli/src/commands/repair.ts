import { relupKeys } from '@relup/core'
import { type MachinePlan, type RepairOutcome, repair } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { table } from '../output.js'

function willDo(plan: MachinePlan, outcome: RepairOutcome): string {
  const hot = outcome.pointer?.hot
  switch (plan.action) {
    case 'keep':
      return 'keeps what it runs'
    case 'apply':
      return `applies ${hot?.version}`
    case 'back to base':
      return `keeps ${plan.runs} until it restarts, then boots the base code`
    case 'other base':
      return 'ignores it (another base)'
  }
}

const BASE_FROM = {
  option: 'from --base-ref',
  machines: 'the base the live machines run',
  history: 'the base of the newest publish (no machine is live)',
} as const

export const repairCommand = defineCommand({
  name: 'repair',
  summary: 'rewrite a corrupt or deleted pointer from the publish history',
  help: `relup repair --app <name> [--to <version>|base] [--base-ref <ref>] [--dry-run] [--force]

Write a valid pointer (current.json) again when it is corrupt or was deleted. The base is the
one the live machines run (their records say); the hot upgrade is the newest one published for
that base (history/) whose artifact is still stored and matches its sha256. It is written with
compare-and-swap against the corrupt object (create-only when there is none), as a new lineage
that machines follow whatever they saw before; machines that already run that upgrade keep it.
On a valid pointer there is nothing to repair, unless --force.

Options:
  --to <version>|base   point at this published version, or at the base code
  --base-ref <ref>      the base to point at (needed when live machines run several bases)
  --dry-run             say what would be written, write nothing
  --force               rewrite a valid pointer too
  --notify <url>        ring redis://… or nats://… once the pointer is written (default RELUP_NOTIFY)
  --storage <url>, --json

Exit code 0 when the pointer is valid afterwards (or would be, --dry-run); 1 when it could not be
written; 2 usage or configuration; 3 the deploy lock is held.`,
  flags: {
    to: { type: 'string' },
    'base-ref': { type: 'string' },
    'dry-run': { type: 'boolean' },
    force: { type: 'boolean' },
  },
  needsApp: true,
  needsStorage: true,
  notifies: true,
  async run({ out, app, storage, prefix, string, flag, notifier }) {
    const outcome = await repair({
      storage,
      notifier,
      app,
      prefix,
      to: string('to'),
      baseRef: string('base-ref'),
      dryRun: flag('dry-run'),
      force: flag('force'),
      reporter: { warn: (message) => out.warn(message), step: (message) => out.step(message) },
    })
    out.data({ ok: true, ...outcome })
    if (out.json) return 0
    const { pointer } = outcome
    if (outcome.status === 'nothing-to-repair') {
      out.line(
        `the pointer is valid (base ${pointer?.baseRef}, ${pointer?.hot ? `hot ${pointer.hot.version}` : 'no hot upgrade'}): nothing to repair; --force rewrites it anyway`,
      )
      return 0
    }
    if (!pointer) return 0
    const key = relupKeys(app, { prefix }).current
    out.line(
      outcome.found === 'corrupt'
        ? `${key} was corrupt: ${outcome.problem}`
        : outcome.found === 'missing'
          ? `${key} was missing`
          : `${key} was valid (rewritten: --force)`,
    )
    const hot = pointer.hot
    out.line(
      `${outcome.status === 'dry-run' ? 'would write' : 'wrote'} a new pointer (lineage ${pointer.lineage}): base ${pointer.baseRef} (${outcome.baseFrom ? BASE_FROM[outcome.baseFrom] : ''}), ` +
        (hot
          ? `hot ${hot.version} (upgrade ${hot.upgradeId}, published ${hot.publishedAt} by ${hot.publishedBy})`
          : 'no hot upgrade (the base code)'),
    )
    for (const s of outcome.skipped)
      out.line(`passed over ${s.version} (upgrade ${s.upgradeId}): ${s.reason}`)
    if (outcome.machines.length > 0) {
      out.line()
      out.line(
        table(
          ['MACHINE', 'BASE', 'RUNS', 'WILL'],
          outcome.machines.map((m) => [m.machineId, m.baseRef, m.runs ?? 'base', willDo(m, outcome)]),
        ),
      )
    } else out.line('no machine is live: the next one to boot reads this pointer')
    if (outcome.status === 'dry-run') out.line('\ndry run: nothing was written')
    return 0
  },
})
