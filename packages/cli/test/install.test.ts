import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { APP, onCleanup, tempDir } from './helpers.js'
import { spawnRelup } from './processes.js'

const packages = fileURLToPath(new URL('../..', import.meta.url))
const nodeMajor = Number(process.versions.node.split('.')[0])

/**
 * node_modules as `npm install @relup/cli` makes it for file:// users: the CLI's bundle and its
 * dependencies only (no publisher, artifact, supervisor or swap package: they are bundled), and
 * no storage-s3, no storage-memory, no AWS SDK.
 */
async function installWithoutOptionalAdapters(): Promise<string> {
  const dir = await tempDir('install')
  const modules = join(dir, 'node_modules')
  await mkdir(join(modules, '@relup', 'cli'), { recursive: true })
  await mkdir(join(modules, '@opentelemetry'))
  // Copied, so it resolves its imports from this node_modules and not from the workspace.
  await cp(join(packages, 'cli', 'dist'), join(modules, '@relup', 'cli', 'dist'), { recursive: true })
  await cp(join(packages, 'cli', 'package.json'), join(modules, '@relup', 'cli', 'package.json'))
  const dependencies: Array<[string, string]> = [
    ['@relup/core', join(packages, 'core')],
    ['@relup/storage-fs', join(packages, 'storage-fs')],
    ['tar', join(packages, 'artifact', 'node_modules', 'tar')],
    ['oxc-transform', join(packages, 'swap', 'node_modules', 'oxc-transform')],
    // The publisher's metrics API (a no-op until an SDK is registered).
    ['@opentelemetry/api', join(packages, 'publisher', 'node_modules', '@opentelemetry', 'api')],
  ]
  const declared = JSON.parse(await readFile(join(packages, 'cli', 'package.json'), 'utf8')).dependencies
  expect(Object.keys(declared).sort()).toEqual(dependencies.map(([name]) => name).sort())
  for (const [name, from] of dependencies) await symlink(from, join(modules, name))
  return dir
}

describe('installing the CLI for filesystem storage (real processes)', () => {
  it('the AWS SDK and the memory adapter are optional peer dependencies, not dependencies', async () => {
    for (const name of ['cli', 'publisher']) {
      const pkg = JSON.parse(await readFile(join(packages, name, 'package.json'), 'utf8'))
      for (const adapter of ['@relup/storage-s3', '@relup/storage-memory']) {
        expect(pkg.dependencies[adapter], `${name} depends on ${adapter}`).toBeUndefined()
        expect(pkg.peerDependencies[adapter]).toBeDefined()
        expect(pkg.peerDependenciesMeta[adapter]).toEqual({ optional: true })
      }
    }
  })

  it('file:// works without them; s3:// and memory: say what to install (exit 2)', async () => {
    const dir = await installWithoutOptionalAdapters()
    const bin = join(dir, 'node_modules', '@relup', 'cli', 'dist', 'relup.js')
    const run = async (storage: string) => {
      const relup = spawnRelup(['status', '--app', APP, '--storage', storage], { cwd: dir, bin })
      const { code } = await relup.exited
      return { code, stdout: relup.stdout(), stderr: relup.stderr() }
    }
    const fs = await run('file://./.relup')
    expect(fs.stderr).toBe('')
    expect([fs.code, fs.stdout]).toEqual([0, expect.stringMatching(/no pointer yet/)])
    // A publish loads the rest of the bundle: the checks (swap, oxc-transform), pack (tar), metrics.
    await mkdir(join(dir, 'hot'))
    await writeFile(join(dir, 'hot', 'handler.js'), 'module.exports = () => 1\n')
    const publish = spawnRelup(
      ['publish', 'hot', '--app', APP, '--storage', 'file://./.relup', '--base-ref', 'img-1', '--no-wait'],
      { cwd: dir, bin },
    )
    expect((await publish.exited).code, publish.stderr()).toBe(0)
    expect(publish.stdout()).toMatch(/published/)
    const s3 = await run('s3://my-bucket')
    expect([s3.code, s3.stderr]).toEqual([
      2,
      'error: s3:// storage needs @relup/storage-s3: npm install @relup/storage-s3 (it is an optional peer dependency, installed only by those who use it)\n',
    ])
    const memory = await run('memory:')
    expect([memory.code, memory.stderr]).toEqual([
      2,
      expect.stringMatching(
        /memory: storage needs @relup\/storage-memory: npm install @relup\/storage-memory/,
      ),
    ])
  })
})

describe('the AWS SDK’s Node version warning', () => {
  it('is not shown by an s3:// command, unless the user set AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', async () => {
    const server = await startS3rver()
    onCleanup(() => server.stop())
    await server.createBucket('quiet')
    const env = s3rverEnv(server, 'quiet')
    const status = spawnRelup(['status', '--app', APP, '--storage', 's3://quiet'], { env })
    expect((await status.exited).code).toBe(0)
    expect(status.stderr()).toBe('')
    if (nodeMajor >= 22) return // the SDK only warns on Node < 22
    const asked = spawnRelup(['status', '--app', APP, '--storage', 's3://quiet'], {
      env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' },
    })
    expect((await asked.exited).code).toBe(0)
    expect(asked.stderr()).toMatch(/NodeVersionSupportWarning: The AWS SDK for JavaScript \(v3\)/)
  }, 30_000)
})
