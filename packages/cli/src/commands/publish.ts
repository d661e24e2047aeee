import { publish } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import { printOutcome } from '../summary.js'
import { DEPLOY_FLAGS, deployOptions } from './deployFlags.js'

export const publishCommand = defineCommand({
  name: 'publish',
  summary: 'pack, upload and roll out a hot upgrade, then wait for the fleet',
  help: `relup publish <dir> --app <name> [options]

Pack <dir> (the app's hot code), upload it, move the pointer to it and wait for every machine
on that base to report.

Options:
  --version <v>       version label (default: <dir>/package.json version, else hot-<sha12>)
  --base-ref <ref>    the cold build it applies to (default: the pointer's base)
  --source-ref <ref>  what it was built from, e.g. a commit (default: sha256:<artifact>)
  --sign <key>        Ed25519 private key (PEM file) to sign the upgrade with
  --timeout <d>       how long to wait for machines (default 120s)
  --no-wait           move the pointer and return
  --expect <n>        wait for exactly n machines (default: machines seen recently)
  --force             take over the deploy lock if someone else holds it
  --storage <url>     file://<dir> (default file://./.relup), s3://<bucket>[/<prefix>], memory:
  --json              machine-readable output

Exit code 0 only when every expected machine completed (a degraded machine completed: it is
flagged, and should be restarted when convenient).`,
  flags: {
    ...DEPLOY_FLAGS,
    version: { type: 'string' },
    'base-ref': { type: 'string' },
    'source-ref': { type: 'string' },
  },
  needsApp: true,
  needsStorage: true,
  async run(input) {
    const dir = input.positionals[0]
    if (!dir)
      throw new UsageError('relup publish needs the directory to publish: relup publish <dir> --app <name>')
    const outcome = await publish({
      ...(await deployOptions(input)),
      dir,
      version: input.string('version'),
      baseRef: input.string('base-ref'),
      sourceRef: input.string('source-ref'),
    })
    printOutcome(input.out, outcome, 'published')
    return outcome.ok ? 0 : 1
  },
})
