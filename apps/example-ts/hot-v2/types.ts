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

/** What the server sends. v2: a message says how many the room has had (`roomTotal`). */
export type ServerFrame =
  | { type: 'welcome'; version: string }
  | { type: 'joined'; room: string; members: number; recent: ChatMessage[] }
  | { type: 'message'; message: ChatMessage; roomTotal: number }
  | { type: 'error'; error: string }

/**
 * v2 keeps each room's own history (v1 kept one list for all rooms, so a busy room pushed a quiet
 * room's messages out). Plain data only: it crosses versions as a structured clone.
 */
export interface ChatState {
  /** connection id → the room it joined and the name it chose (no entry before it joins). */
  members: Map<string, { room: string; name: string }>
  rooms: Record<string, { messages: number; recent: ChatMessage[] }>
  lastId: number
}

/** v1's state, which `codeChange` turns into v2's. */
export interface ChatStateV1 {
  members: Map<string, { room: string; name: string }>
  counts: Record<string, number>
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
