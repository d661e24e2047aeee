// The `chat` unit: rooms, members and recent messages, as plain data in `ctx.state`. It never
// holds a socket: it knows connections by id and reaches them through `ctx.deps.send`, which the
// cold part provides.
import { defineUnit, type UnitContext } from '@relup/swap'
import type {
  ChatDeps,
  ChatMessage,
  ChatSocketApi,
  ChatState,
  ChatStateV1,
  ClientFrame,
  RoomSummary,
  ServerFrame,
  WaitResult,
} from './types.js'

const RECENT_PER_ROOM = 50
const MAX_WAIT_MS = 30_000

function parseFrame(text: string): ClientFrame | null {
  let frame: unknown
  try {
    frame = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof frame !== 'object' || frame === null) return null
  const { type, room, name, text: said } = frame as Record<string, unknown>
  if (type === 'join' && typeof room === 'string' && room && typeof name === 'string' && name)
    return { type, room, name }
  if (type === 'say' && typeof said === 'string' && said) return { type, text: said }
  return null
}

/** v1 kept one list of recent messages for all rooms; v2 keeps one per room. */
function fromV1(old: ChatStateV1): ChatState {
  const rooms: ChatState['rooms'] = {}
  for (const [room, messages] of Object.entries(old.counts)) {
    rooms[room] = { messages, recent: old.recent.filter((message) => message.room === room) }
  }
  return { members: old.members, rooms, lastId: old.lastId }
}

export const units = {
  chat: defineUnit({
    init: (): ChatState => ({ members: new Map(), rooms: {}, lastId: 0 }),

    // The previous version's state, as a structured clone. Told apart by its shape rather than
    // by `fromVersion`, which is whatever name was published (`base`, `v2`, a git sha).
    codeChange: (old: unknown): ChatState =>
      typeof old === 'object' && old !== null && 'rooms' in old
        ? (old as ChatState)
        : fromV1(old as ChatStateV1),

    create(ctx: UnitContext<ChatState, ChatDeps>) {
      // Long polls waiting for a room's next message: promises and functions, so they belong to
      // this instance and never go into ctx.state.
      const waiters = new Set<{ room: string; resolve: (result: WaitResult) => void }>()
      // This instance was replaced by an upgrade: its waiting calls end, their callers call again.
      ctx.onDispose(() => {
        for (const waiter of waiters) waiter.resolve({ kind: 'replaced' })
      })

      const send = (connectionId: string, frame: ServerFrame) =>
        ctx.deps.send(connectionId, JSON.stringify(frame))
      const membersOf = (room: string) =>
        [...ctx.state.members].filter(([, member]) => member.room === room).map(([id]) => id)
      const recentIn = (room: string) => ctx.state.rooms[room]?.recent ?? []

      function say(room: string, from: string, text: string): ChatMessage {
        const message: ChatMessage = {
          id: ++ctx.state.lastId,
          room,
          from,
          text,
          at: new Date().toISOString(),
        }
        ctx.state.rooms[room] ??= { messages: 0, recent: [] }
        const stats = ctx.state.rooms[room]
        stats.messages += 1
        stats.recent.push(message)
        stats.recent.splice(0, stats.recent.length - RECENT_PER_ROOM)
        for (const id of membersOf(room)) {
          // A socket that went away without a close event reaching us: forget it.
          if (!send(id, { type: 'message', message, roomTotal: stats.messages })) ctx.state.members.delete(id)
        }
        for (const waiter of waiters) if (waiter.room === room) waiter.resolve({ kind: 'message', message })
        return message
      }

      const socketApi: ChatSocketApi = {
        connected(connectionId) {
          send(connectionId, { type: 'welcome', version: ctx.version })
        },
        received(connectionId, text) {
          const frame = parseFrame(text)
          const member = ctx.state.members.get(connectionId)
          if (frame?.type === 'join') {
            ctx.state.members.set(connectionId, { room: frame.room, name: frame.name })
            const members = membersOf(frame.room).length
            send(connectionId, { type: 'joined', room: frame.room, members, recent: recentIn(frame.room) })
          } else if (frame?.type === 'say' && member) {
            say(member.room, member.name, frame.text)
          } else {
            const error = frame
              ? 'join a room first'
              : 'expected {"type":"join",room,name} or {"type":"say",text}'
            send(connectionId, { type: 'error', error })
          }
        },
        disconnected(connectionId) {
          ctx.state.members.delete(connectionId)
        },
      }

      return {
        ...socketApi,
        say,

        room(room: string): RoomSummary | undefined {
          const members = membersOf(room).length
          if (!ctx.state.rooms[room] && members === 0) return undefined
          return { room, members, messages: ctx.state.rooms[room]?.messages ?? 0, recent: recentIn(room) }
        },

        /** Every room that has members or messages, busiest first. */
        rooms(): Array<Omit<RoomSummary, 'recent'>> {
          const names = new Set([
            ...Object.keys(ctx.state.rooms),
            ...[...ctx.state.members.values()].map((m) => m.room),
          ])
          return [...names]
            .map((room) => ({
              room,
              members: membersOf(room).length,
              messages: ctx.state.rooms[room]?.messages ?? 0,
            }))
            .sort((a, b) => b.messages - a.messages || a.room.localeCompare(b.room))
        },

        /** The room's first message after `after`, waiting up to `timeoutMs` for one. */
        waitForMessage(room: string, after: number, timeoutMs: number): Promise<WaitResult> {
          const ready = recentIn(room).find((message) => message.id > after)
          if (ready) return Promise.resolve({ kind: 'message', message: ready })
          const wait = new Promise<WaitResult>((resolve) => {
            const waiter = {
              room,
              resolve(result: WaitResult) {
                waiters.delete(waiter)
                ctx.clearTimeout(timer)
                resolve(result)
              },
            }
            const timer = ctx.setTimeout(
              () => waiter.resolve({ kind: 'timeout' }),
              Math.min(timeoutMs, MAX_WAIT_MS),
            )
            waiters.add(waiter)
          })
          // Pending by design: unmarked, every upgrade of this unit would wait for it (and fail
          // after suspendTimeout). Marked, the upgrade goes ahead and onDispose ends it.
          return ctx.longLived(wait)
        },
      }
    },
  }),
}
