import { parseLock, readDocument, relupKeys } from '@relup/core'
import { parse, requireApp } from '../args.js'
import type { CommandContext } from '../context.js'

export const unlockHelp = `relup unlock --app <name> [--storage <url>] [--json]

Remove the deploy lock, for example after a publisher crashed. Says whose lock it was.
Only use it when no publish is really running: a running one would no longer be protected.`

export async function unlockCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parse(argv, {})
  if (values.help) {
    ctx.out.line(unlockHelp)
    return 0
  }
  const app = requireApp(values, ctx.io.env)
  const storage = ctx.storage(values.storage as string | undefined)
  try {
    const keys = relupKeys(app, { prefix: values.prefix as string | undefined })
    const read = await readDocument(storage, keys.lock, parseLock).catch(() => null)
    if (read === null || read.status !== 'ok') {
      // An unreadable lock is removed too: it would block every publisher.
      if (read === null) await storage.delete(keys.lock)
      ctx.out.data({ ok: true, removed: read === null, lock: null })
      ctx.out.line(read === null ? 'removed an unreadable lock' : 'the lock is free: nothing to do')
      return 0
    }
    const options = storage.capabilities.conditionalDelete ? { ifMatch: read.etag } : {}
    const deleted = await storage.delete(keys.lock, options)
    if (deleted.status !== 'ok') {
      ctx.out.error(
        'the lock changed while unlocking (someone took it meanwhile); run `relup status` and try again',
      )
      return 1
    }
    ctx.out.data({ ok: true, removed: true, lock: read.document })
    ctx.out.line(
      `removed the lock held by ${read.document.owner} since ${read.document.acquiredAt} (${read.document.purpose})`,
    )
    return 0
  } finally {
    await storage.close?.()
  }
}
