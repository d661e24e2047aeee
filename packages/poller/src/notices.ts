/**
 * The notifier on a machine: a notice (or the notifier coming back after an outage, when notices
 * may have been missed) makes the runtime check the pointer at once. Checks are coalesced: a
 * notice that arrives while a check runs asks for one more check after it, however many arrive.
 * Nothing here decides anything: the check reads and validates the pointer like any poll, so a
 * lost, duplicated or delayed notice changes nothing but when the pointer is read.
 */
import {
  type Logger,
  type Notifier,
  type NotifierState,
  type NotifierSubscription,
  openNotifier,
  redactUrl,
} from '@relup/core'

export interface NoticeListenerOptions {
  notifier: Notifier | string
  pointerKey: string
  pollInterval: number
  logger: Logger
  /** Read the pointer now (the runtime's `checkNow`). */
  check: () => Promise<void>
  onState: (state: NotifierState, name: string) => void
}

/** Open the notifier a URL names (a missing adapter package throws `NotifierAdapterMissingError`). */
export async function resolveNotifier(
  notifier: Notifier | string,
  logger: Logger,
): Promise<{ notifier: Notifier; owned: boolean }> {
  if (typeof notifier !== 'string') return { notifier, owned: false }
  return { notifier: await openNotifier(notifier, (name) => import(name), { logger }), owned: true }
}

export class NoticeListener {
  readonly #o: Omit<NoticeListenerOptions, 'notifier'> & { notifier: Notifier }
  readonly #owned: boolean
  #subscription: NotifierSubscription | null = null
  #checking: Promise<void> | null = null
  #again = false
  #wasDown = false

  constructor(options: NoticeListenerOptions & { notifier: Notifier }, owned: boolean) {
    this.#o = options
    this.#owned = owned
  }

  get name(): string {
    return redactUrl(this.#o.notifier.name)
  }

  start(): void {
    const { notifier, pointerKey, logger, pollInterval } = this.#o
    this.#subscription = notifier.subscribe(pointerKey, {
      onNotice: () => this.poke(),
      onState: (state, error) => {
        this.#o.onState(state, this.name)
        if (state === 'disconnected') {
          this.#wasDown = true
          logger.warn(
            { err: error },
            `notifier ${this.name} unreachable; upgrades still arrive through the safety-net poll (every ${Math.round(pollInterval / 1000)} s) until it is back`,
          )
        } else if (state === 'connected' && this.#wasDown) {
          this.#wasDown = false
          logger.warn(`notifier ${this.name} reachable again`)
          this.poke() // a notice may have been sent while it was down
        }
      },
    })
  }

  /** Check the pointer now, or once more after the check in progress. */
  poke(): void {
    if (this.#subscription === null) return
    if (this.#checking) {
      this.#again = true
      return
    }
    this.#checking = this.#loop()
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false
        await this.#o
          .check()
          .catch((error: unknown) => this.#o.logger.debug({ err: error }, 'notice check failed'))
      } while (this.#again && this.#subscription !== null)
    } finally {
      this.#checking = null
    }
  }

  async stop(): Promise<void> {
    const subscription = this.#subscription
    this.#subscription = null
    await subscription?.close().catch(() => {})
    await this.#checking
    if (this.#owned) await this.#o.notifier.close().catch(() => {})
  }
}
