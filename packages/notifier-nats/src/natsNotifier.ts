/**
 * NATS core pub/sub as relup's doorbell. One connection per subscription and one, opened on the
 * first announce, for publishing. The client reconnects by itself (forever, every
 * `reconnectTimeWait`) and re-subscribes; the first connection is retried here, so a machine that
 * boots while NATS is down hears notices as soon as it comes up.
 */

import { connect, type NatsConnection } from '@nats-io/transport-node'
import {
  encodeNotice,
  type Logger,
  type NoticeHandlers,
  type Notifier,
  NotifierError,
  type NotifierState,
  type NotifierSubscription,
  type PointerNotice,
  parseNotice,
  redactUrl,
} from '@relup/core'

export interface NatsNotifierOptions {
  /** `nats://[user:password@]host:port` (several servers: comma-separated). */
  url: string
  /** Subjects are `<subjectPrefix>.<pointer key, with ".", "*", ">" and spaces as "_">` (default `relup.notify`). */
  subjectPrefix?: string | undefined
  /** Between reconnect attempts (default 250 ms, with jitter). */
  reconnectTimeWait?: number | undefined
  /** How long `announce` waits for NATS before it rejects (default 3,000 ms). */
  announceTimeout?: number | undefined
  logger?: Logger | undefined
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/** A NATS subject token may not hold ".", "*", ">" or whitespace; two keys that map alike only cost an extra pointer check. */
export function subjectFor(prefix: string, pointerKey: string): string {
  return `${prefix}.${pointerKey.replace(/[.*>\s]/g, '_')}`
}

function connectionOptions(url: string, reconnectTimeWait: number) {
  const servers: string[] = []
  let user: string | undefined
  let pass: string | undefined
  for (const part of url.split(',')) {
    const parsed = new URL(part.includes('://') ? part : `nats://${part}`)
    if (parsed.username) user = decodeURIComponent(parsed.username)
    if (parsed.password) pass = decodeURIComponent(parsed.password)
    servers.push(`${parsed.hostname}:${parsed.port || '4222'}`)
  }
  return {
    servers,
    ...(user !== undefined && pass === undefined ? { token: user } : {}),
    ...(user !== undefined && pass !== undefined ? { user, pass } : {}),
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait,
    reconnectJitter: Math.round(reconnectTimeWait / 5),
    timeout: Math.max(1000, reconnectTimeWait * 4),
    pingInterval: 10_000,
    maxPingOut: 2,
    ignoreClusterUpdates: true,
  }
}

export function natsNotifier(options: NatsNotifierOptions): Notifier {
  const { url } = options
  const name = redactUrl(url)
  const subjectPrefix = options.subjectPrefix ?? 'relup.notify'
  const reconnectTimeWait = options.reconnectTimeWait ?? 250
  const announceTimeout = options.announceTimeout ?? 3000
  const logger = options.logger ?? quiet
  const subscriptions = new Set<NotifierSubscription>()
  let publisher: Promise<NatsConnection> | null = null
  let closed = false

  const withTimeout = async <T>(work: Promise<T>, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${what}: no answer within ${announceTimeout} ms`)),
            announceTimeout,
          )
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  async function announce(notice: PointerNotice): Promise<void> {
    if (closed) throw new NotifierError(name, `the notifier ${name} is closed; the notice was not sent`)
    try {
      if (!publisher) {
        const opening = connect(connectionOptions(url, reconnectTimeWait))
        publisher = opening
        // A failed first connection is forgotten, so the next announce tries again.
        opening.catch(() => {
          if (publisher === opening) publisher = null
        })
      }
      const nc = await withTimeout(publisher, 'connect')
      nc.publish(subjectFor(subjectPrefix, notice.pointerKey), encodeNotice(notice))
      await withTimeout(nc.flush(), 'flush')
    } catch (error) {
      throw new NotifierError(
        name,
        `could not announce the pointer move on ${name} (${(error as Error).message}); machines pick it up at their next safety-net poll — check that NATS is reachable`,
        { cause: error },
      )
    }
  }

  function subscribe(pointerKey: string, handlers: NoticeHandlers): NotifierSubscription {
    const subject = subjectFor(subjectPrefix, pointerKey)
    let state: NotifierState = 'connecting'
    let nc: NatsConnection | null = null
    const moveTo = (next: NotifierState, error?: Error) => {
      if (state === next || state === 'closed') return
      state = next
      handlers.onState?.(next, error)
    }

    const watch = async (connection: NatsConnection) => {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect') moveTo('disconnected')
        else if (status.type === 'reconnect') moveTo('connected')
        else if (status.type === 'error')
          logger.debug({ err: status.error }, `nats notifier ${name}: ${status.error.message}`)
      }
    }

    const open = async () => {
      let failures = 0
      const isClosed = () => state === 'closed'
      while (!isClosed()) {
        try {
          const connection = await connect(connectionOptions(url, reconnectTimeWait))
          if (isClosed()) return void (await connection.close())
          nc = connection
          connection.subscribe(subject, {
            callback: (error, message) => {
              if (error) return
              const notice = parseNotice(message.data)
              if (notice === null || notice.pointerKey !== pointerKey) {
                logger.debug(
                  `nats notifier ${name}: ignored a message on ${subject} that is not a relup notice`,
                )
                return
              }
              handlers.onNotice(notice)
            },
          })
          await connection.flush() // the server has the subscription before we say connected
          moveTo('connected')
          void watch(connection)
          return
        } catch (error) {
          failures += 1
          if (failures === 1)
            logger.debug({ err: error }, `nats notifier ${name}: not reachable yet, retrying`)
          await new Promise((resolve) => setTimeout(resolve, reconnectTimeWait).unref())
        }
      }
    }
    void open()

    const subscription: NotifierSubscription = {
      get state() {
        return state
      },
      close: async () => {
        if (state === 'closed') return
        moveTo('closed')
        subscriptions.delete(subscription)
        await nc?.close().catch(() => {})
      },
    }
    subscriptions.add(subscription)
    return subscription
  }

  return {
    name,
    announce,
    subscribe,
    close: async () => {
      closed = true
      await Promise.all([...subscriptions].map((subscription) => subscription.close()))
      const opening = publisher
      publisher = null
      if (opening) await opening.then((nc) => nc.close()).catch(() => {})
    },
  }
}
