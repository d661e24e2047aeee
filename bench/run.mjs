#!/usr/bin/env node
// Runs the benchmarks in this folder: `pnpm bench` (all) or `pnpm bench pause memory` (by name).
// Each `<name>.bench.mjs` is a standalone script that prints a table and writes
// `results/<name>.json`; this runner only picks and starts them, one at a time, each in its
// own process (with --expose-gc, since several measure memory).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .map((f) => f.slice(0, -'.bench.mjs'.length))
  .sort()
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`)
  process.exit(2)
}
let failed = 0
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench: ${name} ===`)
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, `${name}.bench.mjs`)], {
    stdio: 'inherit',
  })
  if (r.status !== 0) {
    failed++
    console.error(`bench ${name} exited with ${r.status ?? r.signal}`)
  }
}
process.exit(failed > 0 ? 1 : 0)
