/**
 * Redis pub/sub as relup's doorbell. One ioredis connection per subscription (a subscribed Redis
 * connection can do nothing else); ioredis reconnects by itself with a capped backoff, the
 * subscription is re-issued on every `ready`, and `connected` is reported only once Redis
 * confirmed it, so a machine that checks the pointer on reconnect cannot miss a notice published
 * between the two. An announce is one `PUBLISH` on a short connection of its own
 * (`publishOnce.ts`): a publisher never loads ioredis, which is required only on the first
 * `subscribe`.
 */

import { createRequire } from 'node:module'
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
import type { Redis } from 'ioredis'
import { publishOnce } from './publishOnce.js'

export interface RedisNotifierOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  url: string
  /** Channel names are `<channelPrefix><pointer key>` (default `relup:notify:`). */
  channelPrefix?: string | undefined
  /** Reconnect attempts back off from 50 ms up to this (default 1,000 ms): a recovered server is heard from within about a second. */
  reconnectMaxDelay?: number | undefined
  /** How long `announce` waits for Redis before it rejects (default 3,000 ms). */
  announceTimeout?: number | undefined
  logger?: Logger | undefined
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} }

// ioredis is CommonJS: required on the first subscription, so that announcing never loads it.
const require = createRequire(import.meta.url)
let RedisClient: typeof Redis | undefined
const loadRedis = (): typeof Redis => {
  RedisClient ??= (require('ioredis') as typeof import('ioredis')).Redis
  return RedisClient
}

export function redisNotifier(options: RedisNotifierOptions): Notifier {
  const { url } = options
  const name = redactUrl(url)
  const channelPrefix = options.channelPrefix ?? 'relup:notify:'
  const reconnectMaxDelay = options.reconnectMaxDelay ?? 1000
  const announceTimeout = options.announceTimeout ?? 3000
  const logger = options.logger ?? quiet
  const subscriptions = new Set<NotifierSubscription>()
  let closed = false

  const client = (extra: { maxRetriesPerRequest: number | null }) => {
    const redis = new (loadRedis())(url, {
      lazyConnect: true,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), reconnectMaxDelay),
      autoResubscribe: false,
      enableReadyCheck: true,
      connectTimeout: Math.max(reconnectMaxDelay, 1000),
      ...extra,
    })
    // Without a listener ioredis prints every failed reconnect; the state callback says it once.
    redis.on('error', (error: Error) =>
      logger.debug({ err: error }, `redis notifier ${name}: ${error.message}`),
    )
    return redis
  }

  async function announce(notice: PointerNotice): Promise<void> {
    if (closed) throw new NotifierError(name, `the notifier ${name} is closed; the notice was not sent`)
    try {
      await publishOnce(url, channelPrefix + notice.pointerKey, encodeNotice(notice), announceTimeout)
    } catch (error) {
      throw new NotifierError(
        name,
        `could not announce the pointer move on ${name} (${(error as Error).message}); machines pick it up at their next safety-net poll — check that Redis is reachable`,
        { cause: error },
      )
    }
  }

  function subscribe(pointerKey: string, handlers: NoticeHandlers): NotifierSubscription {
    const channel = channelPrefix + pointerKey
    const redis = client({ maxRetriesPerRequest: null })
    let state: NotifierState = 'connecting'
    const moveTo = (next: NotifierState, error?: Error) => {
      if (state === next || state === 'closed') return
      state = next
      handlers.onState?.(next, error)
    }
    let lastError: Error | undefined
    redis.on('error', (error: Error) => {
      lastError = error
    })
    redis.on('ready', () => {
      redis.subscribe(channel).then(
        () => moveTo('connected'),
        (error: Error) =>
          logger.debug({ err: error }, `redis notifier ${name}: subscribe failed, retried on reconnect`),
      )
    })
    redis.on('close', () => {
      if (state === 'connected') moveTo('disconnected', lastError)
    })
    redis.on('message', (from: string, message: string) => {
      if (from !== channel) return
      const notice = parseNotice(message)
      if (notice === null || notice.pointerKey !== pointerKey) {
        logger.debug(`redis notifier ${name}: ignored a message on ${channel} that is not a relup notice`)
        return
      }
      handlers.onNotice(notice)
    })
    redis.connect().catch(() => {}) // ioredis keeps retrying; `state` tells
    const subscription: NotifierSubscription = {
      get state() {
        return state
      },
      close: async () => {
        if (state === 'closed') return
        moveTo('closed')
        subscriptions.delete(subscription)
        redis.disconnect(false)
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
    },
  }
}
