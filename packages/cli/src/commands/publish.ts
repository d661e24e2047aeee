import { parse } from '../args.js'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { publish } from '../publisher.js'
import { printOutcome } from '../summary.js'
import { DEPLOY_FLAGS, deployOptions } from './deployFlags.js'

export const publishHelp = `relup publish <dir> --app <name> [options]

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

Exit code 0 only when every expected machine completed.`

export async function publishCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...DEPLOY_FLAGS,
    version: { type: 'string' },
    'base-ref': { type: 'string' },
    'source-ref': { type: 'string' },
  })
  if (values.help) {
    ctx.out.line(publishHelp)
    return 0
  }
  const dir = positionals[0]
  if (!dir)
    throw new UsageError('relup publish needs the directory to publish: relup publish <dir> --app <name>')
  const options = await deployOptions(ctx, values)
  try {
    const outcome = await publish({
      ...options,
      dir,
      version: values.version as string | undefined,
      baseRef: values['base-ref'] as string | undefined,
      sourceRef: values['source-ref'] as string | undefined,
    })
    printOutcome(ctx.out, outcome, 'published')
    return outcome.ok ? 0 : 1
  } finally {
    await options.storage.close?.()
  }
}
