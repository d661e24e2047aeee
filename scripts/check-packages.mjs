#!/usr/bin/env node
// Checks every published package the way a user's tools will see it once installed: publint
// (package.json fields, exports and the files they point at, in the packed tarball) and
// Are the Types Wrong? (`attw --pack`: the types each entry point resolves to under Node's
// ESM resolution and bundlers). relup's packages are ESM only, so attw runs with its
// `esm-only` profile: a `require()` of them is expected to fail on Node 20 (and works through
// `require(esm)` on Node 22.12+).
//
//   node scripts/check-packages.mjs            (after `pnpm build`; part of `npm test`)
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const attw = join(root, 'node_modules', '.bin', 'attw')

const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private)

function run(command, args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, FORCE_COLOR: '0' } })
    let output = ''
    child.stdout.on('data', (chunk) => {
      output += chunk
    })
    child.stderr.on('data', (chunk) => {
      output += chunk
    })
    child.on('close', (code) => resolve({ code, output }))
  })
}

async function check({ dir, pkg }) {
  const problems = []
  const { messages } = await publint({ pkgDir: dir, pack: 'pnpm', strict: true })
  for (const message of messages) problems.push(`publint: ${formatMessage(message, pkg) ?? message.code}`)
  // A bin-only package (no entry point) has no types to check.
  if (pkg.exports && Object.keys(pkg.exports).some((entry) => entry !== './package.json')) {
    const result = await run(attw, ['--pack', '.', '--profile', 'esm-only', '--format', 'ascii'], dir)
    if (result.code !== 0) problems.push(`attw --pack:\n${result.output.trim()}`)
  }
  return { name: pkg.name, problems }
}

const started = performance.now()
// Two at a time: packing is mostly I/O, and the machines this runs on have two cores.
const results = []
let next = 0
await Promise.all(
  Array.from({ length: 2 }, async () => {
    while (next < packages.length) results.push(await check(packages[next++]))
  }),
)
results.sort((a, b) => a.name.localeCompare(b.name))
const failed = results.filter((r) => r.problems.length > 0)
for (const { name, problems } of results) {
  console.log(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${name}`)
  for (const problem of problems) console.log(`     ${problem.replaceAll('\n', '\n     ')}`)
}
const seconds = ((performance.now() - started) / 1000).toFixed(1)
if (failed.length > 0) {
  console.error(
    `\npackage checks: ${failed.length} of ${results.length} packages have problems (${seconds} s)`,
  )
  process.exit(1)
}
console.log(`\npackage checks: publint and attw pass for all ${results.length} packages (${seconds} s)`)
