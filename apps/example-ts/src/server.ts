/**
 * The cold part of the example: the Express app, the HTTP server, the WebSocket server on the
 * same port, the swap engine and the relup runtime. It changes only with a restart; the API and
 * the chat live in `hot/` (TypeScript ESM, published as it is) and are reached through handles.
 *
 * Environment: PORT (3000; 0 = any free port), HOST (127.0.0.1), RELUP_STORAGE (file://./.relup),
 * RELUP_BASE_REF (this cold build; none = development mode, nothing polled), RELUP_APP
 * (example-ts). Prints one JSON line on stdout once it listens: {"ready":true,"port":…,"version":…}.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { startRelup } from '@relup/poller'
import { openStorage } from '@relup/publisher'
import { createSwapEngine } from '@relup/swap'
import express, { type ErrorRequestHandler, type Router } from 'express'
import { WebSocketServer } from 'ws'
import type { ChatDeps, ChatSocketApi, HostLocals } from './contract.js'
import { SocketHub } from './socketHub.js'

const sockets = new SocketHub()
const engine = await createSwapEngine<ChatDeps>({
  releaseDir: fileURLToPath(new URL('../hot', import.meta.url)),
  resolveFrom: import.meta.url, // `express` and `@relup/swap` in hot code are this app's packages
  deps: { send: (connectionId, text) => sockets.send(connectionId, text) },
})
const storage = await openStorage(process.env.RELUP_STORAGE ?? 'file://./.relup')
// Before listen: an upgrade already published for this base is applied before the first request.
const relup = await startRelup({
  app: process.env.RELUP_APP ?? 'example-ts',
  storage,
  engine,
  baseRef: process.env.RELUP_BASE_REF,
})
relup.on('upgrade:completed', ({ upgrade, stats }) =>
  console.error(`now running ${upgrade.version} (paused ${stats.pauseMs.toFixed(2)} ms)`),
)

const chat = engine.unit<ChatSocketApi>('chat')
const locals: HostLocals = { chat, version: () => engine.version, connections: () => sockets.size }
const app = express()
Object.assign(app.locals, locals)
app.use(engine.module<Router>('routes.ts'))
app.use((req, res) => {
  res.status(404).json({ error: `no route ${req.method} ${req.path}` })
})
const onError: ErrorRequestHandler = (error, req, res, _next) => {
  // Hot frames name the TypeScript source, e.g. `at withLocalTime (routes.ts:19:18)`.
  console.error(`${req.method} ${req.originalUrl} failed on ${engine.version}:`, error)
  if (res.headersSent) res.end()
  else res.status(500).json({ error: 'internal error' })
}
app.use(onError)

const server = createServer(app)
const wss = new WebSocketServer({ server, path: '/ws' })
sockets.serve(wss, chat, (error, connectionId) =>
  console.error(`chat failed for connection ${connectionId}:`, error),
)

server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1')
try {
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => Promise.reject(error)),
  ])
} catch (error) {
  // The runtime has announced this machine: say it stopped, or publishes wait for it.
  await relup.stop()
  throw error
}
const address = server.address()
const port = typeof address === 'object' && address ? address.port : 0
process.stdout.write(`${JSON.stringify({ ready: true, port, version: engine.version })}\n`)

async function shutdown(): Promise<void> {
  await relup.stop()
  sockets.closeAll()
  wss.close()
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await engine.close()
  await storage.close?.()
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed:', error)
        process.exit(1)
      },
    )
  })
}
