import type { Notifier, NotifierUrlOptions } from '@relup/core'
import { natsNotifier } from './natsNotifier.js'

export { type NatsNotifierOptions, natsNotifier, subjectFor } from './natsNotifier.js'

/** How a `nats://` URL (`RELUP_NOTIFY`, `--notify`) opens this notifier. */
export function notifierFromUrl(url: string, options: NotifierUrlOptions = {}): Notifier {
  return natsNotifier({ url, logger: options.logger })
}
