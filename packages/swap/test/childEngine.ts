/**
 * The engine as a plain Node process loads it, for tests that must run outside vitest (whose own
 * `Error.prepareStackTrace` replaces Node's): `src/` with its types stripped into a temp
 * directory, its packages linked, and a way to run a script against it on this Node.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { transformSync } from 'oxc-transform'
import { afterAll } from 'vitest'

const run = promisify(execFile)
const packageDir = fileURLToPath(new URL('..', import.meta.url))

/** Build once per test file; removed after it. */
export function useChildEngine() {
  let built: Promise<string> | undefined
  afterAll(async () => {
    if (built) await rm(dirname(dirname(await built)), { recursive: true, force: true })
  })
  return {
    /** Run an ES module script that imports the engine from `ENGINE` (a file URL), on this Node. */
    async runScript(script: string, nodeArgs: string[] = []): Promise<{ stdout: string; stderr: string }> {
      built ??= build()
      const entry = await built
      const file = join(dirname(entry), `script-${Math.random().toString(36).slice(2)}.mjs`)
      await writeFile(file, script.replaceAll('ENGINE', JSON.stringify(`file://${entry}`)))
      return run(process.execPath, [...nodeArgs, file], { encoding: 'utf8' })
    },
  }
}

async function build(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'relup-swap-child-'))
  const out = join(root, 'src')
  await mkdir(out)
  for (const name of await readdir(join(packageDir, 'src'))) {
    if (!name.endsWith('.ts')) continue
    const source = await readFile(join(packageDir, 'src', name), 'utf8')
    const { code, errors } = transformSync(name, source, { sourceType: 'module' })
    if (errors.length > 0) throw new Error(`${name}: ${errors[0]!.message}`)
    await writeFile(join(out, name.replace(/\.ts$/, '.js')), code)
  }
  await writeFile(join(root, 'package.json'), '{"type":"module"}')
  await symlink(join(packageDir, 'node_modules'), join(root, 'node_modules'))
  return join(out, 'index.js')
}
