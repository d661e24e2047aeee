import { rm, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pack } from '@relup/artifact'
import { checkHotCode, manifestToPublish, type ReleaseCheck, ReleaseCheckError } from '@relup/publisher'
import { defineCommand } from '../command.js'
import { UsageError } from '../errors.js'
import { formatBytes, type Output } from '../output.js'

/** A release the checks refused: its problems, each with file and line, and exit code 2 (the input is wrong). */
export function releaseCheckFailed(out: Output, error: ReleaseCheckError): number {
  if (out.json) out.data({ ok: false, error: error.message, problems: error.problems })
  else out.error(error.message)
  return 2
}

export const packCommand = defineCommand({
  name: 'pack',
  summary: 'check the hot code, then build an artifact and its manifest locally',
  help: `relup pack <dir> [--out <file.tgz>] [--skip-checks] [--json]

Check <dir> with the machines' loader rules (syntax, module format, relative imports, top-level
await, host packages), then pack it into a deterministic artifact (the same files give the same
bytes) and write its module manifest beside it (<file>.manifest.json), with the version of each
host package the hot code imports (resolved from <dir>, as a machine resolves from its app).
Nothing is uploaded.

Options:
  --out <file.tgz>      where to write the artifact (default relup-artifact.tgz)
  --skip-checks         pack without the checks (the manifest then records no host packages)

Exit code 0 when packed; 2 usage, or a problem the machines would refuse (each named as
file:line:column: …, nothing written).`,
  flags: { out: { type: 'string', short: 'o' }, 'skip-checks': { type: 'boolean' } },
  async run({ io, out, positionals, string, flag }) {
    const dir = positionals[0]
    if (!dir)
      throw new UsageError('relup pack needs the directory to pack: relup pack <dir> [--out file.tgz]')
    const source = resolve(io.cwd, dir)
    const path = resolve(io.cwd, string('out') ?? 'relup-artifact.tgz')
    let check: ReleaseCheck | null = null
    if (!flag('skip-checks')) {
      out.step(`checking ${dir} with the machines' loader rules`)
      try {
        check = await checkHotCode(source, { warn: (message) => out.warn(message), command: 'pack' })
      } catch (error) {
        if (error instanceof ReleaseCheckError) return releaseCheckFailed(out, error)
        throw error
      }
    }
    out.step(`packing ${dir}`)
    const packed = await pack(source, { out: path })
    let manifest: typeof packed.manifest
    try {
      manifest = manifestToPublish(source, packed, check)
    } catch (error) {
      await rm(packed.path, { force: true })
      throw error
    }
    const manifestPath = `${path.replace(/\.tgz$/, '')}.manifest.json`
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
    const files = Object.keys(manifest.files).length
    const hostPackages = manifest.hostPackages ?? {}
    out.data({
      ok: true,
      path: packed.path,
      manifest: manifestPath,
      sha256: packed.sha256,
      size: packed.size,
      files,
      nativeAddons: manifest.nativeAddons,
      hostPackages,
      checked: check !== null,
    })
    out.line(`${packed.path}  ${formatBytes(packed.size)}  ${files} files  sha256 ${packed.sha256}`)
    out.line(`manifest: ${manifestPath}`)
    if (Object.keys(hostPackages).length > 0) {
      const list = Object.entries(hostPackages).map(([name, version]) => `${name} ${version}`)
      out.line(`host packages: ${list.join(', ')} (machines resolving other versions refuse the upgrade)`)
    }
    if (manifest.nativeAddons.length > 0) {
      out.line(
        `native addons: ${manifest.nativeAddons.join(', ')} (changing them needs a restart, not a hot upgrade)`,
      )
    }
    return 0
  },
})
