#!/usr/bin/env node
// Runs the benchmarks in this folder: `pnpm bench` (all), `pnpm bench pause memory` (by name),
// `pnpm bench fleet-sim --only fs` (everything from the first flag on goes to each benchmark).
// Each `<name>.bench.mjs` is a standalone script that prints a table and writes
// `results/<name>.json`; this runner only picks and starts them, one at a time, each in its
// own process (with --expose-gc, since several measure memory).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

// RELUP_BENCH_DIR: another folder of `*.bench.mjs` (the runner's own test uses one).
const here = process.env.RELUP_BENCH_DIR ?? dirname(fileURLToPath(import.meta.url))
const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .map((f) => f.slice(0, -'.bench.mjs'.length))
  .sort()
// Names come first; the first argument that starts with '-' and all after it are the
// benchmark's own (a flag's value, as in `--machines 100`, is not taken for a name).
const firstFlag = process.argv.slice(2).findIndex((a) => a.startsWith('-'))
const names = firstFlag === -1 ? process.argv.slice(2) : process.argv.slice(2, 2 + firstFlag)
const flags = firstFlag === -1 ? [] : process.argv.slice(2 + firstFlag)
const unknown = names.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`)
  process.exit(2)
}
let failed = 0
for (const name of names.length > 0 ? names : all) {
  console.log(`\n=== bench: ${name}${flags.length > 0 ? ` ${flags.join(' ')}` : ''} ===`)
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, `${name}.bench.mjs`), ...flags], {
    stdio: 'inherit',
  })
  if (r.status !== 0) {
    failed++
    console.error(`bench ${name} exited with ${r.status ?? r.signal}`)
  }
}
process.exit(failed > 0 ? 1 : 0)
