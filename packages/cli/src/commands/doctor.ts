import { runDoctor, storageReady } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { table } from '../output.js'

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'probe a storage backend for what relup needs',
  help: `relup doctor --storage <url> [--json]

Probe a storage backend for what relup relies on, with real requests under a scratch folder
(removed afterwards): read-after-write, conditional GET (304), create-only and
compare-and-swap honesty (does it really refuse the second writer?), conditional delete, and
listing right after a write. Exit code 0 when everything publishing and polling need works.`,
  needsStorage: true,
  async run({ out, storage }) {
    out.step(`probing ${storage.name}`)
    const probes = await runDoctor(storage)
    const ready = storageReady(probes)
    out.data({ ok: ready, storage: storage.name, capabilities: storage.capabilities, probes })
    out.line(`storage ${storage.name}`)
    out.line()
    out.line(
      table(
        ['PROBE', 'RESULT', 'MS', 'DETAIL'],
        probes.map((p) => [`${p.name}${p.required ? ' *' : ''}`, p.verdict, p.ms.toFixed(0), p.detail]),
      ),
    )
    out.line()
    out.line(ready ? 'ready for relup (* = required)' : 'NOT ready for relup: a required probe (*) failed')
    return ready ? 0 : 1
  },
})
