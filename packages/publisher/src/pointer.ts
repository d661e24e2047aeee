/** Reading the pointer, and moving it to a hot upgrade with compare-and-swap. */
import {
  type CurrentPointer,
  type HotUpgrade,
  initialPointer,
  parseCurrentPointer,
  type RelupKeys,
  readDocument,
  type Storage,
  withHotUpgrade,
  writeDocument,
} from '@relup/core'

export async function readPointer(
  storage: Storage,
  keys: RelupKeys,
): Promise<{ pointer: CurrentPointer; etag: string } | null> {
  const read = await readDocument(storage, keys.current, parseCurrentPointer)
  return read.status === 'ok' ? { pointer: read.document, etag: read.etag } : null
}

/** Move the pointer with compare-and-swap, re-reading when a machine wrote it meanwhile. */
export async function movePointer(
  storage: Storage,
  keys: RelupKeys,
  app: string,
  hot: HotUpgrade,
): Promise<CurrentPointer> {
  const context = { setBy: `publisher:${hot.publishedBy}` }
  for (let round = 0; round < 10; round++) {
    const current = await readPointer(storage, keys)
    // No machine booted yet: this publish writes the app's first pointer (seq 1), already on `hot`.
    const next = current
      ? withHotUpgrade(current.pointer, hot, context)
      : { ...initialPointer(app, hot.baseRef, context), hot }
    const put = await writeDocument(
      storage,
      keys.current,
      next,
      current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
    )
    if (put.status === 'ok') return next
    // A retried write whose first attempt landed reports a failure although it won.
    const after = await readPointer(storage, keys)
    if (after?.pointer.hot?.upgradeId === hot.upgradeId) return after.pointer
  }
  throw new Error('the pointer kept changing while publishing (10 compare-and-swap rounds lost); try again')
}
