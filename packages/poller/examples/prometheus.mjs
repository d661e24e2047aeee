// The runtime's metrics on a Prometheus endpoint: an OpenTelemetry SDK with the Prometheus
// exporter, registered as the global meter provider, which relup uses unless given `meterProvider`.
//
//   node examples/prometheus.mjs ./relup-store     # then: curl http://127.0.0.1:9464/metrics
//
// Publish to the same store (`relup publish <dir> --app shop --storage file://./relup-store`) and
// watch relup_upgrades_total, relup_upgrade_duration_seconds and relup_release_info move.
// METRICS_PORT (default 9464; 0 picks a free port), RELUP_APP (default shop).
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { metrics } from '@opentelemetry/api'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { startRelup } from '@relup/poller'
import { fsStorage } from '@relup/storage-fs'
import { createSwapEngine } from '@relup/swap'

const exporter = new PrometheusExporter({ preventServerStart: true })
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }))

// The app's base release: one module the hot upgrades replace.
const base = await mkdtemp(join(tmpdir(), 'relup-example-base-'))
await writeFile(join(base, 'handler.js'), "module.exports = () => 'base'\n")
const engine = await createSwapEngine({ releaseDir: base, version: 'base' })
const relup = await startRelup({
  app: process.env.RELUP_APP ?? 'shop',
  storage: fsStorage({ dir: resolve(process.argv[2] ?? './relup-store') }),
  engine,
  baseRef: process.env.RELUP_BASE_REF ?? 'image-1',
  machineId: 'example-1',
  stateDir: await mkdtemp(join(tmpdir(), 'relup-example-state-')),
  pollInterval: 200,
})

const server = createServer((request, response) => {
  if (request.url === '/metrics') exporter.getMetricsRequestHandler(request, response)
  else response.writeHead(404).end('metrics are at /metrics\n')
})
server.listen(Number(process.env.METRICS_PORT ?? 9464), '127.0.0.1', () => {
  console.log(`metrics on http://127.0.0.1:${server.address().port}/metrics`)
})

const stop = async () => {
  server.close()
  await relup.stop()
  await engine.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
