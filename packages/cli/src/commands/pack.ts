import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pack } from '@relup/artifact'
import { parse } from '../args.js'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { formatBytes } from '../publisher.js'

export const packHelp = `relup pack <dir> [--out <file.tgz>] [--json]

Pack <dir> into a deterministic artifact (the same files give the same bytes) and write its
module manifest beside it (<file>.manifest.json). Nothing is uploaded.`

export async function packCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string', short: 'o' } })
  if (values.help) {
    ctx.out.line(packHelp)
    return 0
  }
  const dir = positionals[0]
  if (!dir) throw new UsageError('relup pack needs the directory to pack: relup pack <dir> [--out file.tgz]')
  const out = resolve(ctx.io.cwd, (values.out as string | undefined) ?? 'relup-artifact.tgz')
  ctx.out.step(`packing ${dir}`)
  const packed = await pack(resolve(ctx.io.cwd, dir), { out })
  const manifestPath = `${out.replace(/\.tgz$/, '')}.manifest.json`
  await writeFile(manifestPath, `${JSON.stringify(packed.manifest, null, 2)}\n`)
  const files = Object.keys(packed.manifest.files).length
  ctx.out.data({
    ok: true,
    path: packed.path,
    manifest: manifestPath,
    sha256: packed.sha256,
    size: packed.size,
    files,
    nativeAddons: packed.manifest.nativeAddons,
  })
  ctx.out.line(`${packed.path}  ${formatBytes(packed.size)}  ${files} files  sha256 ${packed.sha256}`)
  ctx.out.line(`manifest: ${manifestPath}`)
  if (packed.manifest.nativeAddons.length > 0) {
    ctx.out.line(
      `native addons: ${packed.manifest.nativeAddons.join(', ')} (changing them needs a restart, not a hot upgrade)`,
    )
  }
  return 0
}
