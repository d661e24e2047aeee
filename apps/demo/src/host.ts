/**
 * The contract between the cold server and the hot code. The hot router is called as
 * `router(req, res, host)`; units get `UnitDeps` as `ctx.deps`. Everything here is owned by the
 * cold part and stays the same across upgrades, so every hot version can rely on it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { UnitHandle } from '@relup/swap'
import type { EventHub } from './eventHub.js'

export interface HistoryEntry {
  version: string
  /** ISO date of the switch. */
  at: string
  /** How long the upgraded units were paused, ms. */
  pauseMs: number
}

/** What this process runs, kept by the cold part (it outlives every version of the hot code). */
export interface VersionInfo {
  version: string
  fingerprint: string
  baseRef: string
  hotRef: string | null
  upgradeId: string | null
  machineId: string
  /** Upgrades applied since this process started, oldest first (the startup replay included). */
  history: HistoryEntry[]
}

/** Host-owned resources handed to every unit as `ctx.deps`. */
export interface UnitDeps {
  /** Send an SSE event to every connected client; returns how many. */
  broadcast(event: string, data: unknown): number
  clientIds(): string[]
  /** `open` ({ id, connectedAt }) and `close` (id) of SSE clients: listen with `ctx.listen`. */
  streams: EventHub
}

/** The third argument of the hot router. */
export interface Host extends UnitDeps {
  /** A stable handle to a unit of the live release. */
  unit(name: string): UnitHandle<any>
  versionInfo(): VersionInfo
  /** What the page needs to tell the user how to publish: the app and the storage URL. */
  about(): { app: string; storage: string }
  /** Make `res` a host-owned SSE stream whose first event is `hello(clientId)`; resolves with the id. */
  openEventStream(
    req: IncomingMessage,
    res: ServerResponse,
    hello: (clientId: string) => Promise<unknown>,
  ): Promise<string>
  send(clientId: string, event: string, data: unknown): boolean
  /** Serve `public/<path>` of the live release (path still percent-encoded); 404 when it is not a file there. */
  serveAsset(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>
}

/** The hot router's signature (`hot/<version>/router.js`). */
export type Router = (req: IncomingMessage, res: ServerResponse, host: Host) => unknown

export function unitDeps(hub: EventHub): UnitDeps {
  return {
    broadcast: (event, data) => hub.broadcast(event, data),
    clientIds: () => hub.clientIds(),
    streams: hub,
  }
}
