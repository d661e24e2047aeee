import { rollback } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { printOutcome } from '../summary.js'
import { rollbackColdRelease } from './cold.js'
import { DEPLOY_FLAGS, DEPLOY_FLAGS_HELP, deployOptions } from './deployFlags.js'

export const rollbackCommand = defineCommand({
  name: 'rollback',
  summary: 'point the fleet back at an earlier version, or at its base code',
  help: `relup rollback --app <name> [--to <version>|base] [options]

Point the fleet back at an earlier published version (artifacts are immutable and kept; the
target's is verified first), with the same lock, wait and summary as publish. --to base points
the fleet at its base code: machines that start boot it, running ones keep their hot code until
they restart. Rolling back to the version already live is refused.

Options:
  --to <version>|base   where to go (default: the version before the current one)
  --cold                point machines under \`relup run --app\` back at the previous cold release
${DEPLOY_FLAGS_HELP}

--sign is needed when machines require signatures. Exit codes as for publish.`,
  flags: { ...DEPLOY_FLAGS, to: { type: 'string' }, cold: { type: 'boolean' } },
  needsApp: true,
  needsStorage: true,
  cancellable: true,
  notifies: true,
  async run(input) {
    if (input.flag('cold')) return rollbackColdRelease(input)
    const outcome = await rollback({ ...(await deployOptions(input)), to: input.string('to') })
    printOutcome(input.out, outcome, 'rolled back to')
    return outcome.ok ? 0 : 1
  },
})
