// Apply latency: from the pointer changing to the machine's `completed` result, for a 1 MB and a
// 50 MB artifact, against a real S3-compatible server (s3rver) on loopback and against the
// filesystem adapter. The machine is the relup runtime with the real swap engine, polling every
// 100 ms; the time splits into waiting for the next poll and the apply itself (download, verify,
// extract, swap).
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pack } from '@relup/artifact'
import { relupKeys } from '@relup/core'
import { fsStorage } from '@relup/storage-fs'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { movePointer, startMachine, uploadRelease } from './fixtures/machine/machine.mjs'
import { percentile, printTable, round, writeResult } from './lib.mjs'

const RUNS = process.argv.includes('--quick') ? 2 : 5
// relup's timers do not keep a process alive (a server's socket does); this script has none.
const keepAlive = setInterval(() => {}, 1000)
const work = await mkdtemp(join(tmpdir(), 'relup-apply-bench-'))
const keys = relupKeys('latency')

/** A release: 50 JavaScript modules (~5 KB each) and a static asset that brings the artifact to its size. */
async function release(name, assetBytes) {
  const dir = join(work, name)
  await mkdir(join(dir, 'public'), { recursive: true })
  for (let i = 0; i < 50; i++) {
    const lines = Array.from(
      { length: 25 },
      (_, j) => `exports.v${j} = ${JSON.stringify(randomBytes(96).toString('base64'))}`,
    )
    const body = `// ${name} module ${i}\n${lines.join('\n')}\n`
    await writeFile(join(dir, `m${i}.js`), body)
  }
  await writeFile(
    join(dir, 'counter.js'),
    `exports.units = { counter: { init: () => ({ n: 0 }), create: (ctx) => ({ inc: () => ++ctx.state.n }) } }\n// ${name}\n`,
  )
  if (assetBytes > 0) await writeFile(join(dir, 'public', 'asset.bin'), randomBytes(assetBytes))
  return dir
}

async function measure(label, storage) {
  const machine = await startMachine({
    storage,
    app: 'latency',
    baseDir: await release(`${label}-base`, 0),
    baseRef: 'bench-image',
    machineId: `bench-${label}`,
    stateDir: join(work, `state-${label}`),
    pollInterval: 100,
  })
  const { relup } = machine
  const rows = []
  for (const [size, assetBytes] of [
    ['1 MB', 1024 * 1024 - 200 * 1024],
    ['50 MB', 50 * 1024 * 1024 - 200 * 1024],
  ]) {
    const samples = []
    for (let run = 0; run < RUNS; run++) {
      const dir = await release(`${label}-${size.replace(' ', '')}-${run}`, assetBytes)
      const packed = await pack(dir, { out: join(work, `${label}-${run}.tgz`) })
      const hot = await uploadRelease(storage, keys, packed, {
        version: `v${run}-${size.replace(' ', '')}`,
        baseRef: 'bench-image',
      })
      const done = new Promise((resolve, reject) => {
        relup.once('upgrade:completed', ({ stats }) => resolve(stats))
        relup.once('upgrade:failed', ({ error }) => reject(error))
      })
      const t0 = performance.now()
      await movePointer(storage, keys, hot)
      const stats = await done
      const endToEnd = performance.now() - t0
      samples.push({
        endToEnd,
        apply: stats.totalMs,
        download: stats.downloadMs,
        pause: stats.pauseMs,
        bytes: packed.size,
      })
      await rm(dir, { recursive: true, force: true })
      await rm(packed.path, { force: true })
    }
    const p = (field, q) =>
      round(
        percentile(
          samples.map((s) => s[field]),
          q,
        ),
        1,
      )
    rows.push({
      storage: label,
      artifact: `${size} (${round(samples[0].bytes / 1024 / 1024, 1)} MiB)`,
      runs: RUNS,
      'pointer→completed p50 ms': p('endToEnd', 50),
      'max ms': p('endToEnd', 100),
      'apply p50 ms': p('apply', 50),
      'download+verify+extract p50 ms': p('download', 50),
      'pause p50 ms': round(
        percentile(
          samples.map((s) => s.pause),
          50,
        ),
        3,
      ),
    })
  }
  await machine.stop()
  return rows
}

const server = await startS3rver()
try {
  await server.createBucket('bench')
  const s3 = s3Storage({ env: s3rverEnv(server, 'bench') })
  const fs = fsStorage({ dir: join(work, 'fs-storage') })
  const rows = [...(await measure('s3rver', s3)), ...(await measure('fs', fs))]
  await s3.close()
  printTable(rows, 'apply latency: pointer changed → machine reports completed (poll interval 100 ms)')
  writeResult('apply-latency', { pollIntervalMs: 100, rows })
} finally {
  await server.stop()
  await rm(work, { recursive: true, force: true })
  clearInterval(keepAlive)
}
