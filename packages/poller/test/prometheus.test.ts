// The documented Prometheus example, run as a real process and scraped over loopback.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { fsStorage } from '@relup/storage-fs'
import { expect, it } from 'vitest'
import { APP, onCleanup, publishDirect, tempDir, waitFor, writeRelease } from './helpers.js'

const EXAMPLE = fileURLToPath(new URL('../examples/prometheus.mjs', import.meta.url))

async function startExample(storeDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [EXAMPLE, storeDir], {
    env: { ...process.env, METRICS_PORT: '0', RELUP_APP: APP },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  onCleanup(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const url = await waitFor(() => /metrics on (http:\S+)/.exec(output)?.[1], 'the example to listen', 15_000)
  return { child, url }
}

it('the Prometheus example exposes the runtime metrics with their names and units', async () => {
  const dir = await tempDir('prometheus-store')
  const { url } = await startExample(dir)
  const storage = fsStorage({ dir })
  onCleanup(() => storage.close())
  // The example's machine wrote the pointer at startup; publish onto it.
  await waitFor(async () => (await storage.get(`relup/${APP}/current.json`)).status === 'ok', 'the pointer')
  await publishDirect(storage, await writeRelease(await tempDir(), 'v2'), { version: 'v2' })

  const scrape = async () => (await fetch(url)).text()
  const text = await waitFor(
    async () => {
      const body = await scrape()
      return /relup_upgrades_total\{[^}]*relup_upgrade_result="completed"[^}]*\} 1/.test(body) && body
    },
    'the upgrade to show in the scrape',
    15_000,
  )
  expect(text).toMatch(/# TYPE relup_upgrades_total counter/)
  // Durations in seconds, as the semantic conventions want (the exporter states the unit).
  expect(text).toMatch(/# UNIT relup_upgrade_duration s\n# TYPE relup_upgrade_duration histogram/)
  expect(text).toMatch(/relup_upgrade_duration_count\{[^}]*relup_upgrade_result="completed"[^}]*\} 1/)
  expect(text).toMatch(/# UNIT relup_upgrade_pause_duration s\n# TYPE relup_upgrade_pause_duration histogram/)
  expect(text).toMatch(/relup_upgrade_pause_duration_bucket\{[^}]*le="\+Inf"[^}]*\} 1/)
  expect(text).toMatch(/relup_polls_total\{[^}]*relup_poll_result="changed"[^}]*\} \d+/)
  expect(text).toMatch(/relup_release_info\{[^}]*relup_version="v2"[^}]*\} 1/)
}, 30_000)
