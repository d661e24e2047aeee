import { parse } from '../args.js'
import type { CommandContext } from '../context.js'
import { rollback } from '../publisher.js'
import { printOutcome } from '../summary.js'
import { DEPLOY_FLAGS, deployOptions } from './deployFlags.js'

export const rollbackHelp = `relup rollback --app <name> [--to <version>] [options]

Point the fleet back at an earlier published version (artifacts are immutable and kept),
with the same lock, wait and summary as publish.

Options:
  --to <version>     the version to go back to (default: the one before the current)
  --sign <key>       Ed25519 private key (PEM file): needed when machines require signatures
  --timeout <d>      how long to wait for machines (default 120s)
  --no-wait, --expect <n>, --force, --storage <url>, --json   as for publish`

export async function rollbackCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...DEPLOY_FLAGS, to: { type: 'string' } })
  if (values.help) {
    ctx.out.line(rollbackHelp)
    return 0
  }
  const options = await deployOptions(ctx, values)
  try {
    const outcome = await rollback({ ...options, to: values.to as string | undefined })
    printOutcome(ctx.out, outcome, 'rolled back to')
    return outcome.ok ? 0 : 1
  } finally {
    await options.storage.close?.()
  }
}
