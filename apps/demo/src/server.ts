/**
 * The demo server's cold part: the HTTP server, the SSE connections, the swap engine and the relup
 * runtime. It never changes without a restart; everything a user sees comes from the hot code
 * (`hot/<version>/`), which it reaches only through stable handles.
 *
 * Prints one JSON line on stdout once it listens: {"ready":true,"port":…,"version":…,"machineId":…,"fingerprint":…}.
 * Everything else goes to stderr. See README.md for the environment it reads.
 */
import { rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { startRelup } from '@relup/poller'
import { openStorage } from '@relup/publisher'
import { isSupervised, listen } from '@relup/supervisor/app'
import { createSwapEngine } from '@relup/swap'
import { serveAsset } from './assets.js'
import { handOffAcrossProcesses } from './coldHandoff.js'
import { ConfigurationError, type DemoConfig, readConfig } from './config.js'
import { trackConnections } from './connections.js'
import { EventHub } from './eventHub.js'
import {
  type HistoryEntry,
  type Host,
  type Router,
  type UnitDeps,
  unitDeps,
  type VersionInfo,
} from './host.js'
import { createLogger } from './logger.js'

const SHUTDOWN_TIMEOUT_MS = 10_000

async function main(config: DemoConfig): Promise<void> {
  const log = createLogger(config.logLevel)
  const hub = new EventHub()
  const deps = unitDeps(hub)
  const history: HistoryEntry[] = []

  const engine = await createSwapEngine<UnitDeps>({
    releaseDir: config.hotDir,
    version: config.baseVersion,
    resolveFrom: import.meta.url,
    deps,
    logger: log,
  })
  engine.on('upgrade', (event) => {
    if (event.ok)
      history.push({ version: event.version, at: new Date().toISOString(), pauseMs: event.stats.pauseMs })
  })

  const storage = await openStorage(config.storage)
  // Before listen: a hot upgrade already published for this base is applied before the first request.
  const relup = await startRelup({
    app: config.app,
    storage,
    engine,
    baseRef: config.baseRef,
    machineId: config.machineId,
    region: config.region,
    stateDir: config.stateDir,
    pollInterval: config.pollInterval,
    startupTimeout: config.startupTimeout,
    logger: log,
  })

  const versionInfo = (): VersionInfo => {
    // Never null: a baseRef is always configured, so relup never runs in development mode.
    const vsn = relup.currentVsn()!
    return {
      version: engine.version,
      fingerprint: vsn.fingerprint,
      baseRef: vsn.baseRef,
      hotRef: vsn.hotRef,
      upgradeId: vsn.upgradeId,
      machineId: config.machineId,
      history: history.map((entry) => ({ ...entry })),
    }
  }
  // Sent by the cold part, so every version's page hears about the next one on its open stream.
  relup.on('upgrade:completed', () => {
    const { version, fingerprint, history } = versionInfo()
    hub.broadcast('version', { version, fingerprint, history })
  })

  const host: Host = {
    ...deps,
    unit: (name) => engine.unit(name),
    versionInfo,
    about: () => ({ app: config.app, storage: config.storage }),
    openEventStream: (req, res, hello) => hub.open(req, res, hello),
    send: (clientId, event, data) => hub.send(clientId, event, data),
    serveAsset: (req, res, path) => serveAsset(req, res, engine.assetsDir, path),
  }
  const router = engine.module<Router>('router.js')

  const dispatch = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      await router(req, res, host)
    } catch (error) {
      log.error({ method: req.method, url: req.url, version: engine.version, err: error }, 'request failed')
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
        res.end(JSON.stringify({ error: 'internal error; see the server log' }))
      } else {
        res.end()
      }
    }
  }
  const server = createServer((req, res) => void dispatch(req, res))
  const connections = trackConnections(server)
  // Under `relup run`, the next process takes over the counter and the pages (see coldHandoff.ts).
  if (isSupervised())
    handOffAcrossProcesses(engine, hub, async () => {
      // The machine record says stopped, and nothing is applied on the way out. The per-process
      // state directory goes at the very end: requests still draining may load hot modules from it.
      await relup.stop()
      if (config.stateIsPerProcess)
        process.once('exit', () => rmSync(config.stateDir, { recursive: true, force: true }))
    })
  try {
    // The supervisor's socket under `relup run`, else server.listen(PORT, HOST).
    await listen(server, config.port, { host: config.host }).catch((error: Error) => {
      throw new Error(
        `cannot listen on ${config.host}:${config.port} (${error.message}); set PORT (0 = any free port)`,
      )
    })
  } catch (error) {
    // The runtime has announced this machine: say it stopped before exiting, or every publish
    // waits for a machine that will never answer.
    await relup.stop()
    await engine.close()
    await storage.close?.()
    throw error
  }
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const ready = {
    ready: true,
    port,
    version: engine.version,
    machineId: config.machineId,
    fingerprint: versionInfo().fingerprint,
  }
  process.stdout.write(`${JSON.stringify(ready)}\n`)
  log.info(
    { app: config.app, storage: config.storage, machineId: config.machineId },
    `serving ${engine.version} on http://${config.host}:${port}`,
  )

  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info(`${signal}: shutting down`)
    setTimeout(() => {
      log.error(`shutdown took longer than ${SHUTDOWN_TIMEOUT_MS} ms; exiting anyway`)
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS).unref()
    await relup.stop()
    hub.closeAll()
    await connections.close(2000)
    await engine.close()
    await storage.close?.()
    if (config.stateIsPerProcess) await rm(config.stateDir, { recursive: true, force: true })
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

let config: DemoConfig
try {
  config = readConfig()
} catch (error) {
  process.stderr.write(`demo: ${(error as Error).message}\n`)
  process.exit(error instanceof ConfigurationError ? 2 : 1)
}
main(config).catch((error: unknown) => {
  process.stderr.write(`demo: could not start: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
