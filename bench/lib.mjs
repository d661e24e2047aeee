// Small helpers shared by the benchmarks: percentiles, a printed table, a JSON result file.
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results')

export function percentile(values, p) {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]
}

export const round = (value, digits = 3) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value)

/** Print rows (objects with the same keys) as an aligned table. */
export function printTable(rows, title) {
  if (title) console.log(`\n${title}`)
  if (rows.length === 0) return
  const columns = Object.keys(rows[0])
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? '')))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)))
  const line = (values) => values.map((v, i) => v.padEnd(widths[i])).join('  ')
  console.log(line(columns))
  console.log(line(widths.map((w) => '-'.repeat(w))))
  for (const r of cells) console.log(line(r))
}

/** Write `results/<name>.json` with the environment the numbers were measured on. */
export function writeResult(name, data) {
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `${name}.json`)
  const env = {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    at: new Date().toISOString(),
  }
  writeFileSync(file, `${JSON.stringify({ name, env, ...data }, null, 2)}\n`)
  console.log(`\nwrote ${file}`)
}

/** A port free on the loopback address right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}
