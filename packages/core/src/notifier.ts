/**
 * The notifier: a doorbell beside `Storage`. A publisher announces that it moved the pointer
 * (after its compare-and-swap succeeded); machines subscribe and read the pointer at once when
 * the bell rings. A notice carries no authority: a machine always reads and validates the
 * pointer itself, so a lost, duplicated, delayed or forged notice costs at most one conditional
 * GET, and the slow safety-net poll catches whatever the bell missed.
 */
import type { ColdPointer } from './cold.js'
import { ConfigError, RelupError } from './errors.js'
import type { Logger } from './logger.js'
import { isoDate, nonEmpty } from './patterns.js'
import type { CurrentPointer } from './pointer.js'
import { literal, nullable, number, object, type Schema } from './schema.js'

/** Why the pointer moved. */
export type NoticeReason = 'publish' | 'rollback' | 'repair' | 'rollout'

/** What a publisher says after moving the pointer. Informational only: nothing acts on its fields alone. */
export interface PointerNotice {
  schema: 1
  /** The pointer key that moved (`relup/<app>/current.json`, or `cold.json`): subscribers of another key ignore it. */
  pointerKey: string
  /** The pointer's `seq` after the move. */
  seq: number
  /** The upgrade (or cold release) the pointer names after the move (its candidate first), or null on base code. */
  upgradeId: string | null
  reason: string
  at: string
}

const noticeSchema: Schema<PointerNotice> = object<PointerNotice>({
  schema: literal(1),
  pointerKey: nonEmpty,
  seq: number({ integer: true, min: 0 }),
  upgradeId: nullable(nonEmpty),
  reason: nonEmpty,
  at: isoDate,
})

/** The notice for a pointer (`current.json`, or a cold pointer) just written under `pointerKey`. */
export function pointerNotice(
  pointerKey: string,
  pointer: CurrentPointer | ColdPointer,
  reason: NoticeReason,
  now: Date = new Date(),
): PointerNotice {
  const upgradeId =
    'baseRef' in pointer
      ? (pointer.candidate?.upgrade.upgradeId ?? pointer.hot?.upgradeId ?? null)
      : (pointer.candidate?.release.releaseId ?? pointer.release?.releaseId ?? null)
  return {
    schema: 1,
    pointerKey,
    seq: pointer.seq,
    upgradeId,
    reason,
    at: now.toISOString(),
  }
}

export function encodeNotice(notice: PointerNotice): string {
  return JSON.stringify(notice)
}

/** The notice in a message, or null when the message is not one (such a message is ignored). */
export function parseNotice(message: string | Uint8Array): PointerNotice | null {
  try {
    const text = typeof message === 'string' ? message : new TextDecoder().decode(message)
    return noticeSchema(JSON.parse(text), '')
  } catch {
    return null
  }
}

/**
 * `connecting` until the engine first answers, `connected`, `disconnected` during an outage
 * (the adapter reconnects by itself), `closed` after `close()`.
 */
export type NotifierState = 'connecting' | 'connected' | 'disconnected' | 'closed'

export interface NoticeHandlers {
  /** A notice for the subscribed pointer key arrived. Called synchronously by the adapter: keep it cheap. */
  onNotice(notice: PointerNotice): void
  /** The connection changed state. After a `disconnected` → `connected` notices may have been missed. */
  onState?(state: NotifierState, error?: Error): void
}

export interface NotifierSubscription {
  readonly state: NotifierState
  /** Unsubscribe and drop the connection this subscription opened (idempotent). */
  close(): Promise<void>
}

/**
 * A notifier adapter. `subscribe` never throws for an outage: it connects in the background,
 * reconnects by itself and reports its state; `announce` rejects with a `NotifierError` when
 * the engine cannot take the notice, which a publisher reports as a warning, never as a failure.
 */
export interface Notifier {
  /** For messages: `redis://127.0.0.1:6379`, without credentials. */
  readonly name: string
  announce(notice: PointerNotice): Promise<void>
  subscribe(pointerKey: string, handlers: NoticeHandlers): NotifierSubscription
  /** Close every connection this notifier opened (idempotent). */
  close(): Promise<void>
}

/** The engine did not take a notice (or the connection failed); the pointer itself is unaffected. */
export class NotifierError extends RelupError {
  static readonly code = 'ERR_RELUP_NOTIFIER'
  readonly notifier: string

  constructor(notifier: string, message: string, options?: { cause?: unknown }) {
    super(NotifierError.code, message, options)
    this.notifier = notifier
  }
}

/** A notifier URL names an adapter package that is not installed. */
export class NotifierAdapterMissingError extends RelupError {
  static readonly code = 'ERR_RELUP_NOTIFIER_ADAPTER_MISSING'
  readonly scheme: string
  readonly packageName: string

  constructor(scheme: string, packageName: string, cause?: unknown) {
    super(
      NotifierAdapterMissingError.code,
      `a ${scheme} notifier needs the ${packageName} package: install it (npm install ${packageName}) or remove the notifier URL (RELUP_NOTIFY / --notify)`,
      { cause },
    )
    this.scheme = scheme
    this.packageName = packageName
  }
}

const ADAPTERS: Record<string, string> = {
  'redis:': '@relup/notifier-redis',
  'rediss:': '@relup/notifier-redis',
  'nats:': '@relup/notifier-nats',
}

/** The adapter package a notifier URL needs (`redis://`, `rediss://`, `nats://`). */
export function notifierPackageFor(url: string): { scheme: string; packageName: string } {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase()
  const packageName = scheme ? ADAPTERS[scheme] : undefined
  if (!scheme || !packageName)
    throw new ConfigError(
      'notify',
      `unknown notifier URL ${JSON.stringify(redactUrl(url))}: use redis://host:port, rediss://host:port or nats://host:port`,
    )
  return { scheme, packageName }
}

export interface NotifierUrlOptions {
  logger?: Logger | undefined
}

/** What every notifier package exports, so a URL can open it. */
export interface NotifierModule {
  notifierFromUrl(url: string, options?: NotifierUrlOptions): Notifier
}

/**
 * Open the notifier a URL names. `load` is the caller's `(name) => import(name)`, so the adapter
 * resolves from the package that declares it as an optional peer dependency.
 */
export async function openNotifier(
  url: string,
  load: (packageName: string) => Promise<unknown>,
  options: NotifierUrlOptions = {},
): Promise<Notifier> {
  const { scheme, packageName } = notifierPackageFor(url)
  let module: NotifierModule
  try {
    module = (await load(packageName)) as NotifierModule
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String(error).includes(packageName)
    )
      throw new NotifierAdapterMissingError(scheme.slice(0, -1), packageName, error)
    throw error
  }
  return module.notifierFromUrl(url, options)
}

/** A URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@')
}
