// The hot router (v2: adds GET /api/hello; the increment answer says which version counted).
// The cold server calls it for every request through a stable module handle,
// `router(req, res, host)`, so each request runs on the version that is live when it arrives.
// `host` is what the cold part lends the hot code (see apps/demo/src/host.ts).

const page = require('./page')

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

/** What the page and the SSE hello show: the cold part's version info plus the units' state. */
async function snapshot(host) {
  const [counter, clients] = await Promise.all([host.unit('counter').get(), host.unit('clients').count()])
  return { ...host.versionInfo(), clients, ...counter }
}

const routes = {
  '/': {
    GET: async (_req, res, host) => {
      const view = { ...(await snapshot(host)), ...host.about() }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(page.render(view))
    },
  },
  // The stream belongs to the cold part: it stays open across upgrades. The hello is computed here.
  '/events': {
    GET: (req, res, host) =>
      host.openEventStream(req, res, async (clientId) => ({ clientId, ...(await snapshot(host)) })),
  },
  '/api/increment': {
    POST: async (_req, res, host) => {
      const { count } = await host.unit('counter').increment()
      sendJson(res, 200, { count, countedBy: host.versionInfo().version })
    },
  },
  '/api/counter': {
    GET: async (_req, res, host) => {
      const { count } = await host.unit('counter').get()
      sendJson(res, 200, { count, version: host.versionInfo().version })
    },
  },
  '/api/version': {
    GET: async (_req, res, host) => {
      sendJson(res, 200, { ...host.versionInfo(), clients: await host.unit('clients').count() })
    },
  },
  // The units' raw state, to see what an upgrade migrated.
  '/api/state': {
    GET: async (_req, res, host) => {
      const [counter, clients] = await Promise.all([
        host.unit('counter').state(),
        host.unit('clients').state(),
      ])
      sendJson(res, 200, { version: host.versionInfo().version, units: { counter, clients } })
    },
  },
  '/api/hello': {
    GET: (_req, res) => sendJson(res, 200, { hello: 'from v2' }),
  },
  '/healthz': {
    GET: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      res.end('ok')
    },
  },
}

module.exports = async function route(req, res, host) {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost')
  if (pathname.startsWith('/public/') && (req.method === 'GET' || req.method === 'HEAD')) {
    return host.serveAsset(req, res, pathname.slice('/public/'.length))
  }
  const methods = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined
  if (!methods) return sendJson(res, 404, { error: `no route for ${req.method} ${pathname}` })
  const handler = Object.hasOwn(methods, req.method) ? methods[req.method] : undefined
  if (!handler) {
    res.setHeader('allow', Object.keys(methods).join(', '))
    return sendJson(res, 405, { error: `${req.method} is not allowed on ${pathname}` })
  }
  return handler(req, res, host)
}
