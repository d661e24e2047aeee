// Pause: how long calls to the affected units wait during an upgrade. 200 upgrades of a release
// with 100 changed modules (~7 KB each) and 10 stateful units with trivial migrations, as
// CommonJS and as ES modules written in TypeScript (transformed by the engine in prepare).
// Goal on a 2-core machine: pause p50 ≤ 0.25 ms, p99 ≤ 2 ms, for both. Evaluation (and the
// transform) happens before the gates close, so it shows in the total, not in the pause.
// Run: pnpm --filter @relup/swap build && node --expose-gc bench/pause.bench.mjs
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSwapEngine } from '@relup/swap'
import { writeModularRelease, writeTypedModularRelease } from './fixtures/swap/releases.mjs'
import { percentile, printTable, round, writeResult } from './lib.mjs'

const UPGRADES = 200
const MODULES = 100
const UNITS = 10
const MODULE_BYTES = 7_000

const root = mkdtempSync(join(tmpdir(), 'relup-pause-bench-'))
const silent = { debug() {}, info() {}, warn() {}, error: (message) => console.error(message) }

/** `UPGRADES` upgrades with the given compile mode and sources; every upgrade changes all modules. */
async function measure(compile, typed = false) {
  const dir = join(root, `${compile}${typed ? '-ts' : ''}`)
  const releaseDir = (n) => join(dir, `v${n}`)
  const write = typed ? writeTypedModularRelease : writeModularRelease
  write(releaseDir(0), 'v0', { modules: MODULES, units: UNITS, moduleBytes: MODULE_BYTES })
  const engine = await createSwapEngine({ releaseDir: releaseDir(0), version: 'v0', logger: silent, compile })
  const units = Array.from({ length: UNITS }, (_, u) => engine.unit(`unit${u}`))
  const result = { pauses: [], totals: [], wall: [], transforms: [], modules: 0, units: 0 }
  for (let n = 1; n <= UPGRADES; n++) {
    write(releaseDir(n), `v${n}`, { modules: MODULES, units: UNITS, moduleBytes: MODULE_BYTES })
    for (const unit of units) await unit.call()
    const started = performance.now()
    const stats = await engine.upgrade(releaseDir(n), { version: `v${n}` })
    result.wall.push(performance.now() - started)
    result.pauses.push(stats.pauseMs)
    result.totals.push(stats.totalMs)
    result.transforms.push(stats.transform.ms)
    result.modules = stats.modulesReloaded
    result.units = stats.unitsMigrated
    rmSync(releaseDir(n - 1), { recursive: true, force: true })
  }
  // Sanity: state survived every migration and the last version serves.
  const calls = await units[0].call()
  const version = await units[0].version()
  if (calls !== UPGRADES + 1 || version !== `v${UPGRADES}`) {
    throw new Error(`state or version lost: calls=${calls}, version=${version}`)
  }
  await engine.close()
  return result
}

const row = (what, values, note) => ({
  measure: what,
  p50_ms: round(percentile(values, 50), 4),
  p99_ms: round(percentile(values, 99), 4),
  max_ms: round(Math.max(...values), 4),
  note,
})
const summary = (values) => ({
  p50: percentile(values, 50),
  p99: percentile(values, 99),
  max: Math.max(...values),
})

try {
  const eager = await measure('eager')
  const lazy = await measure('lazy')
  const typed = await measure('eager', true)
  printTable(
    [
      row(
        'pause (gates closed → reopened)',
        eager.pauses,
        "drain + migrate 10 units + switch (compile: 'eager', default)",
      ),
      row("pause with compile: 'lazy'", lazy.pauses, 'unit hooks compile on first call, inside the pause'),
      row(
        'upgrade total (stats.totalMs)',
        eager.totals,
        'read + hash + evaluate 100 modules, the pause, dispose',
      ),
      row(
        'upgrade wall time (await upgrade)',
        eager.wall,
        'what the pause would be if evaluation ran behind closed gates',
      ),
      row("upgrade total with compile: 'lazy'", lazy.totals, ''),
      row(
        'pause, ES modules + TypeScript',
        typed.pauses,
        'the same release as .ts ES modules ("type": "module"), compile: \'eager\'',
      ),
      row('upgrade total, ES modules + TypeScript', typed.totals, 'includes the transform below'),
      row(
        'transform in prepare (stats.transform.ms)',
        typed.transforms,
        'oxc: strip types + ESM, 100 new modules',
      ),
    ],
    `Pause: ${UPGRADES} upgrades × ${eager.modules} changed modules (~${MODULE_BYTES / 1000} KB) and ${eager.units} units migrated`,
  )
  const goals = { pauseP50Ms: 0.25, pauseP99Ms: 2 }
  const meets = (pauses) =>
    percentile(pauses, 50) <= goals.pauseP50Ms && percentile(pauses, 99) <= goals.pauseP99Ms
  const met = meets(eager.pauses) && meets(typed.pauses)
  console.log(
    `\ngoal: pause p50 ≤ ${goals.pauseP50Ms} ms, p99 ≤ ${goals.pauseP99Ms} ms → CommonJS ${meets(eager.pauses) ? 'met' : 'NOT met'}, ` +
      `ES modules + TypeScript ${meets(typed.pauses) ? 'met' : 'NOT met'}`,
  )
  writeResult('pause', {
    upgrades: UPGRADES,
    modulesPerUpgrade: eager.modules,
    unitsPerUpgrade: eager.units,
    moduleBytes: MODULE_BYTES,
    goals,
    met,
    pauseMs: summary(eager.pauses),
    totalMs: summary(eager.totals),
    wallMs: summary(eager.wall),
    lazyCompile: { pauseMs: summary(lazy.pauses), totalMs: summary(lazy.totals) },
    esmTypeScript: {
      pauseMs: summary(typed.pauses),
      totalMs: summary(typed.totals),
      transformMs: summary(typed.transforms),
    },
  })
} finally {
  rmSync(root, { recursive: true, force: true })
}
