import { rollback } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { printOutcome } from '../summary.js'
import { DEPLOY_FLAGS, deployOptions } from './deployFlags.js'

export const rollbackCommand = defineCommand({
  name: 'rollback',
  summary: 'point the fleet back at an earlier version',
  help: `relup rollback --app <name> [--to <version>] [options]

Point the fleet back at an earlier published version (artifacts are immutable and kept),
with the same lock, wait and summary as publish.

Options:
  --to <version>     the version to go back to (default: the one before the current)
  --sign <key>       Ed25519 private key (PEM file): needed when machines require signatures
  --timeout <d>      how long to wait for machines (default 120s)
  --no-wait, --expect <n>, --force, --storage <url>, --json   as for publish`,
  flags: { ...DEPLOY_FLAGS, to: { type: 'string' } },
  needsApp: true,
  needsStorage: true,
  async run(input) {
    const outcome = await rollback({ ...(await deployOptions(input)), to: input.string('to') })
    printOutcome(input.out, outcome, 'rolled back to')
    return outcome.ok ? 0 : 1
  },
})
