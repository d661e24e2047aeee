import type { LastResult } from '@relup/core'
import { readFleetStatus } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { ago, table } from '../output.js'

function lastResultCell(last: LastResult | null): string {
  if (!last) return '-'
  const status = last.status === 'completed' && last.degraded ? 'completed (degraded)' : last.status
  return `${status} ${last.version}${last.error ? `: ${last.error}` : ''}`
}

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'the pointer, the lock and every machine',
  help: `relup status --app <name> [--storage <url>] [--json]

The pointer (base, hot version, published when and by whom), the deploy lock, and every
machine's version, fingerprint, last result and when it was last seen. Machines that are
behind, failed or degraded (old instances failed to dispose: restart when convenient) are
flagged.`,
  needsApp: true,
  needsStorage: true,
  async run({ out, app, storage, prefix }) {
    const fleet = await readFleetStatus({ storage, app, prefix })
    out.data(fleet)
    if (out.json) return 0
    const { pointer, lock, machines } = fleet
    out.line(`app ${app} on ${fleet.storage}`)
    if (!pointer) {
      out.line('no pointer yet: no machine has booted against this storage, and nothing was published')
      return 0
    }
    const hot = pointer.hot
    out.line(
      `base     ${pointer.baseRef}${pointer.previousBases.length ? ` (previous: ${pointer.previousBases.slice(0, 3).join(', ')})` : ''}`,
    )
    out.line(
      hot
        ? `hot      ${hot.version} · upgrade ${hot.upgradeId} · published ${hot.publishedAt} (${ago(hot.publishedAt)}) by ${hot.publishedBy}${hot.signature ? ' · signed' : ''}`
        : 'hot      none: machines run the base code',
    )
    out.line(`expected fingerprint ${fleet.expectedFingerprint} · pointer seq ${pointer.seq}`)
    out.line(
      lock
        ? `lock     held by ${lock.owner} since ${lock.acquiredAt} (${lock.purpose}), expires ${lock.expiresAt}`
        : 'lock     free',
    )
    out.line()
    if (machines.length === 0) {
      out.line('no machine has reported yet')
      return 0
    }
    out.line(
      table(
        ['MACHINE', 'REGION', 'VERSION', 'FINGERPRINT', 'LAST RESULT', 'SEEN', 'STATE'],
        machines.map((m) => [
          m.machineId,
          m.region ?? '-',
          m.version ?? 'base',
          m.fingerprint,
          lastResultCell(m.lastResult),
          ago(m.updatedAt),
          m.state === 'current' ? 'ok' : `<< ${m.state.toUpperCase()}`,
        ]),
      ),
    )
    const attention = machines.filter((m) => m.state === 'behind' || m.state === 'failed').length
    const degraded = machines.filter((m) => m.state === 'degraded').length
    if (attention > 0 || degraded > 0) out.line()
    if (attention > 0) out.line(`${attention} machine(s) behind or failed`)
    if (degraded > 0)
      out.line(
        `${degraded} machine(s) degraded: old instances failed to dispose and may still hold resources; restart ${degraded === 1 ? 'it' : 'them'} when convenient`,
      )
    return 0
  },
})
