import {
  DEFAULT_KEEP,
  DEFAULT_MACHINE_RETENTION_MS,
  DEFAULT_ORPHAN_GRACE_MS,
  type GcOutcome,
  gc,
} from '@relup/publisher'
import { parseCount, parseDuration } from '../args.js'
import { defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import type { Output } from '../output.js'

function printDeleted(out: Output, outcome: GcOutcome): void {
  const verb = outcome.dryRun ? 'would delete' : 'deleted'
  const { history, results, artifacts, machines } = outcome.deleted
  for (const key of [...history, ...results, ...artifacts, ...machines]) out.line(`${verb} ${key}`)
  for (const w of outcome.waiting)
    out.line(
      `kept ${w.key}: no publish names it (yet), unreferenced since ${w.since}; deletable from ${w.deletableAt}`,
    )
  for (const k of outcome.kept)
    out.line(`kept ${k.version} (upgrade ${k.upgradeId}): ${k.reasons.join(', ')}`)
  out.line(
    `${outcome.dryRun ? 'dry run: would delete' : 'deleted'} ${history.length} history entr${history.length === 1 ? 'y' : 'ies'}, ` +
      `${results.length} result(s), ${artifacts.length} artifact(s), ${machines.length} record(s) of machines gone: ${outcome.objectsBefore} → ${outcome.objectsAfter} objects`,
  )
}

export const gcCommand = defineCommand({
  name: 'gc',
  summary: 'remove old publishes, their results and unreferenced artifacts (retention)',
  help: `relup gc --app <name> [--keep <n>] [--dry-run] [--json]

Keep the pointer's stable release and its rollout candidate, the last <n> publishes (default
${DEFAULT_KEEP}), the upgrade every live machine runs, the version \`relup rollback\` goes back
to and the cold releases cold.json names (relup run); delete older history entries, their
results/, every artifact none of these names, and the records of machines silent for the
machine retention (machines/<id>.json; a machine that comes back writes its record again at its
next heartbeat). An artifact no publish names yet (an upload
whose publish has not moved the pointer) is deleted only once an earlier gc saw it unreferenced
at least the grace ago. Runs under the deploy lock.
\`relup publish\` applies the same policy after each publish (--no-gc skips it).

Options:
  --keep <n>            publishes to keep, at least 1 (default ${DEFAULT_KEEP})
  --dry-run             list what would be deleted, delete nothing (no lock taken)
  --grace <d>           how long an unreferenced artifact no publish names is kept (default ${DEFAULT_ORPHAN_GRACE_MS / 60_000}m)
  --machine-retention <d>  how long the record of a silent machine is kept, at least 1h (default ${DEFAULT_MACHINE_RETENTION_MS / 86_400_000}d)
  --force               take over the deploy lock if someone else holds it
  --storage <url>, --json

Exit code 0 when done (or, --dry-run, planned); 1 when storage failed part way (what was deleted
is consistent: results first, then history, then artifacts; run it again); 2 usage or
configuration; 3 the deploy lock is held.`,
  flags: {
    keep: { type: 'string' },
    'dry-run': { type: 'boolean' },
    grace: { type: 'string' },
    'machine-retention': { type: 'string' },
    force: { type: 'boolean' },
  },
  needsApp: true,
  needsStorage: true,
  async run({ out, app, storage, prefix, string, flag }) {
    const keepText = string('keep')
    const keep = keepText === undefined ? undefined : parseCount(keepText, 'keep')
    if (keep === 0)
      throw new UsageError('--keep takes at least 1: the pointer and the newest publish always stay')
    const grace = string('grace')
    const retention = string('machine-retention')
    const outcome = await gc({
      storage,
      app,
      prefix,
      keep,
      dryRun: flag('dry-run'),
      orphanGraceMs: grace === undefined ? undefined : parseDuration(grace, 'grace'),
      machineRetentionMs: retention === undefined ? undefined : parseDuration(retention, 'machine-retention'),
      force: flag('force'),
    })
    out.data({ ok: true, ...outcome })
    if (!out.json) printDeleted(out, outcome)
    return 0
  },
})
