// The HTTP API. The default export is an Express router: the cold part mounts the module handle
// (`app.use(engine.module('routes.ts'))`), and every request reaches the live version's router.
import type { UnitApi } from '@relup/swap'
import { json, type Request, Router } from 'express'
import type { units } from './chat.js'
import { countRequest, requestsPerSecond, requestsServed } from './metrics.js'
import type { ChatMessage, HostLocals } from './types.js'

type Host = HostLocals<UnitApi<typeof units.chat>>
/** The handles the cold part put on `app.locals`: how a handler reaches the units. */
const hostOf = (req: Request) => req.app.locals as Host

const intParam = (value: unknown, fallback: number): number => {
  const n = typeof value === 'string' ? Number.parseInt(value, 10) : Number.NaN
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback
}

function withLocalTime(messages: ChatMessage[], timeZone: string) {
  const format = new Intl.DateTimeFormat('en-GB', { timeZone, timeStyle: 'medium' })
  return messages.map((message) => ({ ...message, time: format.format(new Date(message.at)) }))
}

const router: Router = Router()
router.use((_req, _res, next) => {
  countRequest()
  next()
})

router.get('/healthz', (_req, res) => {
  res.type('text/plain').send('ok')
})

router.get('/api/stats', (req, res) => {
  const host = hostOf(req)
  res.json({ version: host.version(), requestsServed, requestsPerSecond, connections: host.connections() })
})

router.get('/api/rooms/:room', async (req, res) => {
  const room = await hostOf(req).chat.room(req.params.room)
  if (!room) {
    res.status(404).json({ error: `no room ${req.params.room}` })
    return
  }
  const timeZone = typeof req.query.tz === 'string' ? req.query.tz : 'UTC'
  res.json({ ...room, recent: withLocalTime(room.recent, timeZone) })
})

router.post('/api/rooms/:room/messages', json(), async (req, res) => {
  const { name, text } = (req.body ?? {}) as { name?: unknown; text?: unknown }
  if (typeof name !== 'string' || !name || typeof text !== 'string' || !text) {
    res.status(400).json({ error: 'expected a JSON body {"name": "…", "text": "…"}' })
    return
  }
  res.status(201).json(await hostOf(req).chat.say(req.params.room, name, text))
})

// A long poll: the room's next message after `after`, for clients without a WebSocket.
router.get('/api/rooms/:room/next', async (req, res) => {
  const after = intParam(req.query.after, 0)
  const deadline = Date.now() + intParam(req.query.timeout, 25_000)
  for (;;) {
    const result = await hostOf(req).chat.waitForMessage(req.params.room, after, deadline - Date.now())
    // 'replaced': the chat unit was upgraded while this request waited; the handle now reaches
    // the new version, so ask again.
    if (result.kind !== 'replaced') {
      res.json(result)
      return
    }
  }
})

export default router
