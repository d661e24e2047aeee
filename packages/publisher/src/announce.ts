/**
 * After the pointer moved (its compare-and-swap succeeded and was read back), ring the
 * notifier so machines read it at once. A failed announce is a warning, never a failed publish:
 * the pointer is already where it should be, and machines reach it by their safety-net poll.
 */
import {
  type ColdPointer,
  type CurrentPointer,
  type Logger,
  type NoticeReason,
  type Notifier,
  openNotifier,
  pointerNotice,
} from '@relup/core'

export async function announceMove(
  notifier: Notifier | undefined,
  pointerKey: string,
  pointer: CurrentPointer | ColdPointer,
  reason: NoticeReason,
  warn: (message: string) => void,
): Promise<boolean> {
  if (!notifier) return false
  try {
    await notifier.announce(pointerNotice(pointerKey, pointer, reason))
    return true
  } catch (error) {
    warn(
      `the pointer moved, but the notifier ${notifier.name} was not told (${(error as Error).message}); machines pick it up at their next safety-net poll`,
    )
    return false
  }
}

/**
 * The notifier a URL (`redis://…`, `nats://…`; `--notify`, `RELUP_NOTIFY`) names. Its adapter
 * is an optional peer dependency, loaded only when used; a missing one throws
 * `NotifierAdapterMissingError` saying what to install.
 */
export function openNotifierUrl(
  url: string,
  options: { logger?: Logger | undefined } = {},
): Promise<Notifier> {
  return openNotifier(url, (name) => import(name), options)
}
