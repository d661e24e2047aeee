/**
 * What the cold part and the hot code agree on. The cold part provides these and never changes
 * without a restart; every version of the hot code (`hot/`, `hot-v2/`) is type-checked against
 * them. Types only: a hot module imports this file with `import type`, which leaves nothing
 * behind, so the published hot directory needs nothing outside itself.
 */
import type { UnitHandle } from '@relup/swap'

/** Handed to the hot units as `ctx.deps`: the only way hot code reaches a WebSocket. */
export interface ChatDeps {
  /** Send one text frame to a connection; false when it is gone (closed, or never existed). */
  send(connectionId: string, text: string): boolean
}

/** The methods of the `chat` unit that the cold WebSocket hub calls, in every version. */
export interface ChatSocketApi {
  connected(connectionId: string): void
  received(connectionId: string, text: string): void
  disconnected(connectionId: string): void
}

/**
 * What the hot router finds on `req.app.locals`: stable handles, set once by the cold part. The
 * hot code names the chat unit's full API (`HostLocals<UnitApi<typeof units.chat>>`); the cold
 * part only knows the methods it calls.
 */
export interface HostLocals<ChatApi extends object = ChatSocketApi> {
  chat: UnitHandle<ChatApi>
  /** The hot release version this process runs now. */
  version(): string
  /** Open WebSocket connections. */
  connections(): number
}
