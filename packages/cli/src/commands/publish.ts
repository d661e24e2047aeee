import { planPublish, publish, ReleaseCheckError } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import type { Output } from '../output.js'
import { printOutcome, reporterFor } from '../summary.js'
import { publishColdRelease } from './cold.js'
import { DEPLOY_FLAGS, DEPLOY_FLAGS_HELP, deployOptions } from './deployFlags.js'
import { releaseCheckFailed } from './pack.js'

/** A hot upgrade the machines would refuse as restart-required, and no `--cold-dir`: nothing is written. */
function needsCold(out: Output, app: string, dir: string, reasons: string[]): number {
  const how =
    `publish it as a cold release for machines under \`relup run --app ${app}\`: ` +
    `relup publish ${dir} --app ${app} --cold-dir <the built app with its production node_modules> --command "node server.js"`
  const message = `${dir} needs a cold release (a restart of the app), not a hot upgrade: ${reasons.join('; ')}. Nothing was published; ${how}`
  if (out.json) out.data({ ok: false, error: message, needsCold: true, reasons })
  else
    out.error(
      `a hot upgrade of ${dir} would be refused by the machines as restart-required:\n` +
        reasons.map((reason) => `  - ${reason}\n`).join('') +
        `nothing was published; ${how}`,
    )
  return 2
}

export const publishCommand = defineCommand({
  name: 'publish',
  summary: 'pack, upload and roll out a hot upgrade, then wait for the fleet',
  help: `relup publish <dir> --app <name> [options]

Check <dir> (the app's hot code) with the machines' loader rules, pack it, upload it, move the
pointer to it and wait for every machine on that base to report. A problem the machines would
refuse (a syntax error, an import that resolves to nothing, top-level await, a host package that
cannot be found, a native addon change against the release they run) stops the publish before
anything is written to storage, naming file:line:column. The manifest records the version of
each host package the hot code imports: machines resolving another version refuse the upgrade.

Options:
  --version <v>         version label (default: <dir>/package.json version, else hot-<sha12>)
  --base-ref <ref>      the cold build it applies to (default: the pointer's base)
  --source-ref <ref>    what it was built from, e.g. a commit (default: sha256:<artifact>)
  --skip-checks         publish without the checks (no host package versions are recorded)
  --no-gc               skip the retention policy run after the publish (see \`relup gc --help\`)
  --cold                a cold release instead: <dir> is the whole built app with its production
                        node_modules, started as a new process by machines under \`relup run
                        --app\` (see relup run --help); needs --command "node server.js"
  --command <cmd>       what starts a cold release, run in its directory. A cold release waits for
                        the machines like a hot upgrade (those that reported recently, or
                        --expect), rolls out in waves like one (--rollout: each wave's new
                        process must stay up for the health window, a failure halts it, exit 1);
                        --sign signs it for machines run with --trusted-key
  --cold-dir <dir>      the whole app (with --command): when a hot upgrade of <dir> would be refused
                        as restart-required (a dependency at another version, a native addon
                        change, or a changed cold entry: a file outside <dir> and node_modules
                        that differs from the cold release the machines run), <cold-dir> is
                        published as a cold release instead, saying why. Without it such a
                        publish stops (exit 2, nothing written) and says how
${DEPLOY_FLAGS_HELP}

Exit code 0 when every machine waited for completed (a degraded machine completed: it is
flagged, and should be restarted when convenient; machines counted absent are listed and do not
fail the publish as long as one completed); 1 when one failed or timed out, or when the
upgrade's base runs on at most half of the live machines (unless --allow-other-bases);
2 usage or configuration, or the checks found a problem (nothing was written); 3 the deploy lock
is held; 130/143 cancelled by Ctrl-C/SIGTERM (the lock is released, temporary files removed).`,
  flags: {
    ...DEPLOY_FLAGS,
    version: { type: 'string' },
    'base-ref': { type: 'string' },
    'source-ref': { type: 'string' },
    'skip-checks': { type: 'boolean' },
    'no-gc': { type: 'boolean' },
    cold: { type: 'boolean' },
    'cold-dir': { type: 'string' },
    command: { type: 'string' },
  },
  needsApp: true,
  needsStorage: true,
  cancellable: true,
  notifies: true,
  async run(input) {
    const dir = input.positionals[0]
    if (!dir)
      throw new UsageError('relup publish needs the directory to publish: relup publish <dir> --app <name>')
    if (input.flag('cold')) return publishColdRelease(input, dir, 'asked for with --cold')
    const coldDir = input.string('cold-dir')
    const plan = input.flag('skip-checks')
      ? null
      : await planPublish({
          storage: input.storage,
          app: input.app,
          prefix: input.prefix,
          dir,
          baseRef: input.string('base-ref'),
          coldDir,
          reporter: reporterFor(input.out),
        })
    const reasons = plan?.reasons ?? []
    if (reasons.length > 0) {
      if (coldDir === undefined) return needsCold(input.out, input.app, dir, reasons)
      input.out.line(`a hot upgrade of ${dir} would be refused by the machines:`)
      for (const reason of reasons) input.out.line(`  - ${reason}`)
      input.out.line(`publishing ${coldDir} as a cold release instead`)
      return publishColdRelease(input, coldDir, reasons.join('; '))
    }
    if (plan?.coldEntry?.status === 'not-compared') input.out.line(`note: ${plan.coldEntry.why}`)
    const outcome = await publish({
      ...(await deployOptions(input, { autoRollout: true })),
      dir,
      version: input.string('version'),
      baseRef: input.string('base-ref'),
      sourceRef: input.string('source-ref'),
      skipChecks: input.flag('skip-checks'),
      checked: plan?.checked,
      gc: !input.flag('no-gc'),
    }).catch((error: unknown) => {
      if (error instanceof ReleaseCheckError) return error
      throw error
    })
    if (outcome instanceof ReleaseCheckError) return releaseCheckFailed(input.out, outcome)
    printOutcome(input.out, outcome, 'published')
    return outcome.ok ? 0 : 1
  },
})
