import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pack } from '@relup/artifact'
import { defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import { formatBytes } from '../output.js'

export const packCommand = defineCommand({
  name: 'pack',
  summary: 'build an artifact and its manifest locally',
  help: `relup pack <dir> [--out <file.tgz>] [--json]

Pack <dir> into a deterministic artifact (the same files give the same bytes) and write its
module manifest beside it (<file>.manifest.json). Nothing is uploaded.`,
  flags: { out: { type: 'string', short: 'o' } },
  async run({ io, out, positionals, string }) {
    const dir = positionals[0]
    if (!dir)
      throw new UsageError('relup pack needs the directory to pack: relup pack <dir> [--out file.tgz]')
    const path = resolve(io.cwd, string('out') ?? 'relup-artifact.tgz')
    out.step(`packing ${dir}`)
    const packed = await pack(resolve(io.cwd, dir), { out: path })
    const manifestPath = `${path.replace(/\.tgz$/, '')}.manifest.json`
    await writeFile(manifestPath, `${JSON.stringify(packed.manifest, null, 2)}\n`)
    const files = Object.keys(packed.manifest.files).length
    out.data({
      ok: true,
      path: packed.path,
      manifest: manifestPath,
      sha256: packed.sha256,
      size: packed.size,
      files,
      nativeAddons: packed.manifest.nativeAddons,
    })
    out.line(`${packed.path}  ${formatBytes(packed.size)}  ${files} files  sha256 ${packed.sha256}`)
    out.line(`manifest: ${manifestPath}`)
    if (packed.manifest.nativeAddons.length > 0) {
      out.line(
        `native addons: ${packed.manifest.nativeAddons.join(', ')} (changing them needs a restart, not a hot upgrade)`,
      )
    }
    return 0
  },
})
