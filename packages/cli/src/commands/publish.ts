import { publish, ReleaseCheckError } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import { printOutcome } from '../summary.js'
import { DEPLOY_FLAGS, DEPLOY_FLAGS_HELP, deployOptions } from './deployFlags.js'
import { releaseCheckFailed } from './pack.js'

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
  },
  needsApp: true,
  needsStorage: true,
  cancellable: true,
  async run(input) {
    const dir = input.positionals[0]
    if (!dir)
      throw new UsageError('relup publish needs the directory to publish: relup publish <dir> --app <name>')
    const outcome = await publish({
      ...(await deployOptions(input, { autoRollout: true })),
      dir,
      version: input.string('version'),
      baseRef: input.string('base-ref'),
      sourceRef: input.string('source-ref'),
      skipChecks: input.flag('skip-checks'),
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
