#!/usr/bin/env node
// The newcomer's entry point: `npm start` and `npm test` work on a machine that has only
// Node.js and npm. It finds (or installs, locally) pnpm 12.4.2, installs the workspace,
// then hands over to turbo.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PNPM_VERSION = '12.4.2'
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' }

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...options })
  if (result.error) throw result.error
  return result.status ?? 1
}

function output(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env })
  return result.status === 0 ? result.stdout.trim() : null
}

function findPnpm() {
  if (output('pnpm', ['--version']) === PNPM_VERSION) return 'pnpm'
  const local = join(root, '.tools', 'node_modules', '.bin', 'pnpm')
  if (existsSync(local) && output(local, ['--version']) === PNPM_VERSION) return local
  console.log(`relup: installing pnpm ${PNPM_VERSION} into .tools/ (once; nothing global is changed)`)
  const status = run('npm', [
    'install',
    '--prefix',
    join(root, '.tools'),
    '--no-save',
    '--no-audit',
    '--no-fund',
    `pnpm@${PNPM_VERSION}`,
  ])
  if (status !== 0 || !existsSync(local)) {
    console.error(
      `relup: could not install pnpm ${PNPM_VERSION}. Install it yourself with: npm i -g pnpm@${PNPM_VERSION}`,
    )
    process.exit(1)
  }
  return local
}

/** turbo and package scripts look pnpm up on the PATH: put the local one first. */
function usePnpm(path) {
  if (path !== 'pnpm') env.PATH = `${dirname(path)}${delimiter}${env.PATH ?? ''}`
  return path
}

const command = process.argv[2] ?? 'test'
const pnpm = usePnpm(findPnpm())
if (run(pnpm, ['install', '--frozen-lockfile', '--reporter=append-only']) !== 0) {
  console.error('relup: `pnpm install` failed; see the output above.')
  process.exit(1)
}

const turbo = (...tasks) =>
  run(pnpm, ['exec', 'turbo', 'run', ...tasks, '--output-logs=errors-only', '--log-order=grouped'])

/** Each command returns its exit status; the first failing step stops it. */
const commands = {
  test() {
    console.log(`relup: testing on Node ${process.version}`)
    let status = turbo('build', 'typecheck')
    if (status === 0) status = run(pnpm, ['lint'])
    // publint and attw on every published package, as packed for the registry.
    if (status === 0) status = run(process.execPath, [join(root, 'scripts', 'check-packages.mjs')])
    if (status === 0)
      status = run(pnpm, ['exec', 'turbo', 'run', 'test', '--concurrency=2', '--log-order=grouped'])
    return status
  },
  start() {
    const status = turbo('build')
    return status === 0 ? run(pnpm, ['--filter', '@relup/demo', 'run', 'tour']) : status
  },
  /** The demo server, kept running (the tour's "your turn"). */
  demo() {
    const status = turbo('build')
    return status === 0 ? run(pnpm, ['--filter', '@relup/demo', 'run', 'start']) : status
  },
  bench() {
    const status = turbo('build')
    return status === 0
      ? run(pnpm, ['--filter', '@relup/bench', 'run', 'bench', ...process.argv.slice(3)])
      : status
  },
}

if (!(command in commands)) {
  console.error(`relup: unknown command ${command}; use start, test, demo or bench`)
  process.exit(2)
}
process.exit(commands[command]())
