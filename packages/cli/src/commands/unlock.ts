import { relupKeys } from '@relup/core'
import { breakLock } from '@relup/publisher'
import { defineCommand } from '../command.js'

export const unlockCommand = defineCommand({
  name: 'unlock',
  summary: 'remove a stale deploy lock',
  help: `relup unlock --app <name> [--storage <url>] [--json]

Remove the deploy lock, for example after a publisher crashed. Says whose lock it was.
Only use it when no publish is really running: a running one would no longer be protected.`,
  needsApp: true,
  needsStorage: true,
  async run({ out, app, storage, prefix }) {
    const outcome = await breakLock(storage, relupKeys(app, { prefix }))
    switch (outcome.status) {
      case 'changed':
        out.error(
          'the lock changed while unlocking (someone took it meanwhile); run `relup status` and try again',
        )
        return 1
      case 'free':
      case 'removed-unreadable':
        out.data({ ok: true, removed: outcome.status !== 'free', lock: null })
        out.line(outcome.status === 'free' ? 'the lock is free: nothing to do' : 'removed an unreadable lock')
        return 0
      case 'removed':
        out.data({ ok: true, removed: true, lock: outcome.lock })
        out.line(
          `removed the lock held by ${outcome.lock.owner} since ${outcome.lock.acquiredAt} (${outcome.lock.purpose})`,
        )
        return 0
    }
  },
})
