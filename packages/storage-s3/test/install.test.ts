/**
 * "Installing only @relup/core and @relup/storage-s3 is enough to read and write relup state."
 * Checked three ways: what the package declares and imports; a project that links only those two
 * packages; and a real `npm install` of the two packed tarballs (scripts/smoke-install.mjs, which
 * needs the npm registry for the AWS SDK: set RELUP_SKIP_INSTALL_SMOKE=1 to leave it out offline).
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type S3rverServer, s3rverEnv, startS3rver } from '@relup/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const coreDir = fileURLToPath(new URL('../../core', import.meta.url))
const run = promisify(execFile)
const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8'))

// `@relup/core` and its subpaths (`@relup/core/adapter`), and the AWS SDK's packages.
const isAllowedDependency = (name: string) =>
  /^@relup\/core(\/|$)/.test(name) || /^@(aws-sdk|smithy)\//.test(name)

describe('what @relup/storage-s3 brings in', () => {
  it('depends on @relup/core and the AWS SDK only', () => {
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      '@aws-sdk/client-s3',
      '@relup/core',
      '@smithy/util-retry',
    ])
    expect(Object.keys(manifest.peerDependencies ?? {})).toEqual([])
  })

  it('its built code imports nothing else (besides node: builtins and its own files)', async () => {
    const dist = join(packageDir, 'dist')
    const files = (await readdir(dist)).filter((file) => file.endsWith('.js'))
    expect(files.length, 'build the package first (pnpm build)').toBeGreaterThan(0)
    for (const file of files) {
      const source = await readFile(join(dist, file), 'utf8')
      for (const [, specifier] of source.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        if (specifier!.startsWith('.') || specifier!.startsWith('node:')) continue
        expect(isAllowedDependency(specifier!), `${file} imports ${specifier}`).toBe(true)
      }
    }
  })
})

describe('a project with only @relup/core and @relup/storage-s3', () => {
  let server: S3rverServer
  let project: string

  beforeAll(async () => {
    server = await startS3rver()
    await server.createBucket('smoke')
    project = await mkdtemp(join(tmpdir(), 'relup-s3-project-'))
    await mkdir(join(project, 'node_modules', '@relup'), { recursive: true })
    await symlink(coreDir, join(project, 'node_modules', '@relup', 'core'), 'dir')
    await symlink(packageDir, join(project, 'node_modules', '@relup', 'storage-s3'), 'dir')
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ type: 'module', dependencies: { '@relup/core': '*', '@relup/storage-s3': '*' } }),
    )
    await writeFile(
      join(project, 'pointer.mjs'),
      await readFile(join(packageDir, 'test/fixtures/pointerRoundTrip.mjs')),
    )
  })

  afterAll(async () => {
    await server?.stop()
    if (project) await rm(project, { recursive: true, force: true })
  })

  it('writes, reads, polls and swaps a relup pointer, configured by the environment alone', async () => {
    const { stdout } = await run(process.execPath, ['pointer.mjs'], {
      cwd: project,
      env: { ...s3rverEnv(server, 'smoke'), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    })
    expect(JSON.parse(stdout)).toEqual({
      name: 's3://smoke',
      created: 'ok',
      createdAgain: 'precondition-failed',
      baseRef: 'base-1',
      polled: 'not-modified',
      swapped: 'ok',
      stale: 'precondition-failed',
      seq: 2,
    })
  })
})

describe('npm install of the two packed tarballs into an empty project', () => {
  it.skipIf(process.env.RELUP_SKIP_INSTALL_SMOKE === '1')(
    'installs @relup/core and @relup/storage-s3 alone, and they read and write the pointer',
    async () => {
      const { stdout } = await run(process.execPath, [join(packageDir, 'scripts', 'smoke-install.mjs')], {
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      })
      const report = JSON.parse(stdout)
      expect(report.installedRelupPackages).toEqual(['core', 'storage-s3'])
      expect(report.result).toMatchObject({
        created: 'ok',
        createdAgain: 'precondition-failed',
        polled: 'not-modified',
        seq: 2,
      })
      expect(report.ok).toBe(true)
    },
    120_000,
  )
})
