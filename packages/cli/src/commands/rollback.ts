import { loadKey } from '@relup/artifact'
import { parse, parseCount, parseDuration, requireApp } from '../args.js'
import type { CommandContext } from '../context.js'
import { rollback } from '../publisher.js'
import { printOutcome, reporterFor } from '../summary.js'

export const rollbackHelp = `relup rollback --app <name> [--to <version>] [options]

Point the fleet back at an earlier published version (artifacts are immutable and kept),
with the same lock, wait and summary as publish.

Options:
  --to <version>     the version to go back to (default: the one before the current)
  --sign <key>       Ed25519 private key (PEM file): needed when machines require signatures
  --timeout <d>      how long to wait for machines (default 120s)
  --no-wait, --expect <n>, --force, --storage <url>, --json   as for publish`

export async function rollbackCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    to: { type: 'string' },
    sign: { type: 'string' },
    timeout: { type: 'string' },
    'no-wait': { type: 'boolean' },
    expect: { type: 'string' },
    force: { type: 'boolean' },
  })
  if (values.help) {
    ctx.out.line(rollbackHelp)
    return 0
  }
  const app = requireApp(values, ctx.io.env)
  const storage = ctx.storage(values.storage as string | undefined)
  try {
    const outcome = await rollback({
      storage,
      app,
      prefix: values.prefix as string | undefined,
      to: values.to as string | undefined,
      sign: values.sign ? await loadKey(values.sign as string) : undefined,
      timeoutMs: values.timeout ? parseDuration(values.timeout as string, 'timeout') : undefined,
      wait: !values['no-wait'],
      expect: values.expect ? parseCount(values.expect as string, 'expect') : undefined,
      force: Boolean(values.force),
      reporter: reporterFor(ctx.out),
    })
    printOutcome(ctx.out, outcome, 'rolled back to')
    return outcome.ok ? 0 : 1
  } finally {
    await storage.close?.()
  }
}
