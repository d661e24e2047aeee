// Types shared by the hot modules of this release. Type-only: it compiles to nothing.
export type { ChatDeps, ChatSocketApi, HostLocals } from '../src/contract.js'

export interface ChatMessage {
  /** Increasing across all rooms: a client resumes with `after=<id>`. */
  id: number
  room: string
  from: string
  text: string
  /** ISO date. */
  at: string
}

/** What a WebSocket client sends, as JSON text frames. */
export type ClientFrame = { type: 'join'; room: string; name: string } | { type: 'say'; text: string }

/** What the server sends. */
export type ServerFrame =
  | { type: 'welcome'; version: string }
  | { type: 'joined'; room: string; members: number; recent: ChatMessage[] }
  | { type: 'message'; message: ChatMessage }
  | { type: 'error'; error: string }

/**
 * The chat unit's state: plain data only, because it crosses versions as a structured clone.
 * Connections appear by id; the sockets stay in the cold part.
 */
export interface ChatState {
  /** connection id → the room it joined and the name it chose (no entry before it joins). */
  members: Map<string, { room: string; name: string }>
  /** room → messages posted in it. */
  counts: Record<string, number>
  /** The last messages, all rooms together, oldest first. */
  recent: ChatMessage[]
  lastId: number
}

export interface RoomSummary {
  room: string
  members: number
  messages: number
  recent: ChatMessage[]
}

/** What a long poll for a room's next message ends with. */
export type WaitResult =
  | { kind: 'message'; message: ChatMessage }
  | { kind: 'timeout' }
  /** The unit was upgraded while the call waited: call again, the handle reaches the new version. */
  | { kind: 'replaced' }
