#!/usr/bin/env node
// Memory and speed of pack() and extractArtifact() on a large release (default ~200 MiB of
// incompressible data, so the artifact is ~200 MiB too, plus 2,000 small JavaScript files).
// Memory must stay flat: the run fails (exit 1) if the memory still referenced after a garbage
// collection grows by more than 32 MiB while packing or extracting.
//
//   pnpm bench artifact-memory        (or: node --expose-gc bench/artifact-memory.bench.mjs --mib 200)
//
// Prints a table and writes bench/results/artifact-memory.json.
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { extractArtifact, pack } from '@relup/artifact'
import { printTable, writeResult } from './lib.mjs'

const MIB = 1024 * 1024
const argMib = process.argv.indexOf('--mib')
const totalMib = argMib === -1 ? 200 : Number(process.argv[argMib + 1])
const RETAINED_LIMIT_MIB = 32

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc, to tell retained memory from garbage not yet collected')
  process.exit(2)
}

/** Run `task` while sampling memory: peak RSS every 2 ms, retained (heap + buffers after a gc) every 50 ms. */
async function measure(task) {
  globalThis.gc()
  const before = process.memoryUsage()
  const retained = () => {
    const now = process.memoryUsage()
    return now.heapUsed + now.arrayBuffers - (before.heapUsed + before.arrayBuffers)
  }
  let peakRss = before.rss
  let peakRetained = 0
  const rss = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 2)
  // V8 frees the memory of collected buffers on a background thread: read the usage a moment
  // after the collection, or buffers already dead still count.
  const live = setInterval(() => {
    globalThis.gc()
    setTimeout(() => {
      peakRetained = Math.max(peakRetained, retained())
    }, 10)
  }, 50)
  const started = performance.now()
  try {
    const result = await task()
    return {
      result,
      ms: performance.now() - started,
      rssGrowthMib: (peakRss - before.rss) / MIB,
      retainedMib: peakRetained / MIB,
    }
  } finally {
    clearInterval(rss)
    clearInterval(live)
  }
}

const work = await mkdtemp(join(tmpdir(), 'relup-artifact-bench-'))
try {
  const hot = join(work, 'hot')
  await mkdir(join(hot, 'data'), { recursive: true })
  const bigFiles = Math.max(1, Math.round(totalMib / 8))
  for (let i = 0; i < bigFiles; i++) {
    const handle = await open(join(hot, 'data', `blob-${i}.bin`), 'w')
    for (let m = 0; m < 8; m++) await handle.write(randomBytes(MIB))
    await handle.close()
  }
  for (let i = 0; i < 2000; i++) {
    const dir = join(hot, 'routes', `group-${i % 50}`)
    await mkdir(dir, { recursive: true })
    await writeFile(
      join(dir, `route-${i}.js`),
      `exports.handler${i} = (req) => ({ ok: ${i}, path: req.url })\n`.repeat(20),
    )
  }

  const packed = await measure(() => pack(hot, { out: join(work, 'hot.tgz') }))
  const artifact = packed.result
  const extracted = await measure(() =>
    extractArtifact(createReadStream(artifact.path), {
      dest: join(work, 'releases', 'v1'),
      sha256: artifact.sha256,
      size: artifact.size,
    }),
  )

  const files = Object.keys(artifact.manifest.files).length
  const rows = [
    { step: 'pack', ...row(packed, artifact.size) },
    { step: 'extract', ...row(extracted, artifact.size) },
  ]
  printTable(
    rows,
    `pack and extract ${(artifact.size / MIB).toFixed(1)} MiB (${files} files); memory must stay flat`,
  )
  writeResult('artifact-memory', {
    artifactBytes: artifact.size,
    files,
    retainedLimitMib: RETAINED_LIMIT_MIB,
    rows,
  })
  const worst = Math.max(packed.retainedMib, extracted.retainedMib)
  if (worst > RETAINED_LIMIT_MIB) {
    console.error(`memory is not flat: ${worst.toFixed(1)} MiB retained (limit ${RETAINED_LIMIT_MIB} MiB)`)
    process.exitCode = 1
  }
} finally {
  await rm(work, { recursive: true, force: true })
}

function row(measured, bytes) {
  return {
    seconds: Number((measured.ms / 1000).toFixed(2)),
    'MiB/s': Number((bytes / MIB / (measured.ms / 1000)).toFixed(1)),
    'peak RSS growth MiB': Number(measured.rssGrowthMib.toFixed(1)),
    'peak retained MiB': Number(measured.retainedMib.toFixed(1)),
  }
}
