import type { Notifier, NotifierUrlOptions } from '@relup/core'
import { redisNotifier } from './redisNotifier.js'

export { type RedisNotifierOptions, redisNotifier } from './redisNotifier.js'

/** How a `redis://` / `rediss://` URL (`RELUP_NOTIFY`, `--notify`) opens this notifier. */
export function notifierFromUrl(url: string, options: NotifierUrlOptions = {}): Notifier {
  return redisNotifier({ url, logger: options.logger })
}
