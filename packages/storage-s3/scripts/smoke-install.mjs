#!/usr/bin/env node
/**
 * The real thing behind test/install.test.ts: pack @relup/core and @relup/storage-s3, install
 * only those two tarballs into an empty project with npm (the AWS SDK comes from the registry),
 * then write and read a relup pointer against s3rver with nothing but environment variables.
 *
 *   pnpm --filter @relup/storage-s3... build && node packages/storage-s3/scripts/smoke-install.mjs
 *
 * Needs the npm registry; takes about as long as `npm install @aws-sdk/client-s3` (~10 s with a
 * warm npm cache). Prints one JSON report; exits non-zero if anything is off. test/install.test.ts
 * runs it unless RELUP_SKIP_INSTALL_SMOKE=1.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { s3rverEnv, startS3rver } from '../../testkit/dist/index.js'

const packages = fileURLToPath(new URL('../..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'relup-smoke-install-'))
const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`
const run = (command, args, options = {}) => execFileSync(command, args, { encoding: 'utf8', ...options })

// The pnpm running us (npm_execpath under `pnpm run`, possibly not on PATH), else the one on PATH.
// Only pnpm pack turns the `workspace:` dependency on @relup/core into a version.
function pnpm(args, options) {
  const execpath = process.env.npm_execpath
  if (!execpath || !/pnpm/.test(execpath)) return run('pnpm', args, options)
  return /\.[cm]?js$/.test(execpath)
    ? run(process.execPath, [execpath, ...args], options)
    : run(execpath, args, options)
}

let server
try {
  const tarballs = {}
  for (const name of ['core', 'storage-s3']) {
    pnpm(['pack', '--pack-destination', work], {
      cwd: join(packages, name),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    tarballs[name] = readdirSync(work).find(
      (file) => file.startsWith(`relup-${name}-`) && file.endsWith('.tgz'),
    )
  }
  const project = join(work, 'project')
  mkdirSync(project)
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      {
        name: 'relup-smoke',
        private: true,
        type: 'module',
        dependencies: {
          '@relup/core': `file:../${tarballs.core}`,
          '@relup/storage-s3': `file:../${tarballs['storage-s3']}`,
        },
      },
      null,
      2,
    ),
  )

  const installStarted = performance.now()
  try {
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
      cwd: project,
      stdio: ['ignore', 'ignore', 'inherit'],
      // npm retries an unreachable registry for minutes: fail with a reason instead.
      timeout: 90_000,
    })
  } catch (error) {
    throw new Error(
      `npm install of the packed tarballs did not finish (${error.code ?? error.message}): the registry must be ` +
        'reachable (behind a TLS-intercepting proxy, Node needs NODE_EXTRA_CA_CERTS); set RELUP_SKIP_INSTALL_SMOKE=1 to skip this test offline',
      { cause: error },
    )
  }
  const installTime = seconds(installStarted)
  const topLevel = readdirSync(join(project, 'node_modules')).filter((name) => !name.startsWith('.'))
  const relup = readdirSync(join(project, 'node_modules', '@relup'))

  server = await startS3rver()
  await server.createBucket('smoke')
  copyFileSync(
    join(packages, 'storage-s3', 'test', 'fixtures', 'pointerRoundTrip.mjs'),
    join(project, 'pointer.mjs'),
  )
  const output = run(process.execPath, ['pointer.mjs'], {
    cwd: project,
    env: { ...s3rverEnv(server, 'smoke'), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  })
  const result = JSON.parse(output)
  const expected = {
    created: 'ok',
    createdAgain: 'precondition-failed',
    polled: 'not-modified',
    swapped: 'ok',
    stale: 'precondition-failed',
    seq: 2,
  }
  const ok =
    Object.entries(expected).every(([key, value]) => result[key] === value) &&
    relup.join() === 'core,storage-s3'
  console.log(
    JSON.stringify(
      { ok, installTime, installedRelupPackages: relup, topLevelEntries: topLevel.length, result },
      null,
      2,
    ),
  )
  process.exitCode = ok ? 0 : 1
} finally {
  await server?.stop()
  rmSync(work, { recursive: true, force: true })
}
