import {
  fingerprint,
  isMachineRecent,
  listAll,
  type MachineRecord,
  parseCurrentPointer,
  parseLock,
  parseMachineRecord,
  readDocument,
  relupKeys,
} from '@relup/core'
import { parse, requireApp } from '../args.js'
import type { CommandContext } from '../context.js'
import { ago, table } from '../output.js'

export const statusHelp = `relup status --app <name> [--storage <url>] [--json]

The pointer (base, hot version, published when and by whom), the deploy lock, and every
machine's version, fingerprint, last result and when it was last seen. Machines that are
behind or failed are flagged.`

export type MachineState = 'current' | 'behind' | 'failed' | 'older base' | 'stopped' | 'not seen recently'

export function machineState(
  machine: MachineRecord,
  pointer: { baseRef: string; hot: { upgradeId: string } | null } | null,
): MachineState {
  if (machine.stoppedAt) return 'stopped'
  if (!isMachineRecent(machine)) return 'not seen recently'
  if (!pointer) return 'current'
  if (machine.baseRef !== pointer.baseRef) return 'older base'
  const wanted = pointer.hot?.upgradeId ?? null
  if (machine.upgradeId === wanted) return 'current'
  if (machine.lastResult && machine.lastResult.upgradeId === wanted && machine.lastResult.status === 'failed')
    return 'failed'
  return 'behind'
}

export async function statusCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parse(argv, {})
  if (values.help) {
    ctx.out.line(statusHelp)
    return 0
  }
  const app = requireApp(values, ctx.io.env)
  const storage = ctx.storage(values.storage as string | undefined)
  try {
    const keys = relupKeys(app, { prefix: values.prefix as string | undefined })
    const pointerRead = await readDocument(storage, keys.current, parseCurrentPointer)
    const pointer = pointerRead.status === 'ok' ? pointerRead.document : null
    const lockRead = await readDocument(storage, keys.lock, parseLock).catch(() => null)
    const lock = lockRead?.status === 'ok' ? lockRead.document : null
    const machines: MachineRecord[] = []
    for await (const item of listAll(storage, keys.machinesPrefix)) {
      const read = await readDocument(storage, item.key, parseMachineRecord).catch(() => null)
      if (read?.status === 'ok') machines.push(read.document)
    }
    machines.sort((a, b) => a.machineId.localeCompare(b.machineId))
    const expectedFingerprint = pointer ? fingerprint(pointer.baseRef, pointer.hot?.sourceRef ?? null) : null
    const rows = machines.map((m) => ({ machine: m, state: machineState(m, pointer) }))

    ctx.out.data({
      app,
      storage: storage.name,
      pointer,
      expectedFingerprint,
      lock,
      machines: rows.map(({ machine, state }) => ({ ...machine, state })),
    })
    if (ctx.out.json) return 0
    const out = ctx.out
    out.line(`app ${app} on ${storage.name}`)
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
    out.line(`expected fingerprint ${expectedFingerprint} · pointer seq ${pointer.seq}`)
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
        rows.map(({ machine: m, state }) => [
          m.machineId,
          m.region ?? '-',
          m.version ?? 'base',
          m.fingerprint,
          m.lastResult
            ? `${m.lastResult.status} ${m.lastResult.version}${m.lastResult.error ? `: ${m.lastResult.error}` : ''}`
            : '-',
          ago(m.updatedAt),
          state === 'current' ? 'ok' : `<< ${state.toUpperCase()}`,
        ]),
      ),
    )
    const attention = rows.filter((r) => r.state === 'behind' || r.state === 'failed').length
    if (attention > 0) out.line(`\n${attention} machine(s) behind or failed`)
    return 0
  } finally {
    await storage.close?.()
  }
}
