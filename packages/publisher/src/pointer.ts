/**
 * Reading the pointer (valid, missing or corrupt), moving it with compare-and-swap, and checking
 * that what storage holds afterwards is what this publisher wrote.
 */
import {
  type CurrentPointer,
  canonicalJson,
  DocumentError,
  parseCurrentPointer,
  type RelupKeys,
  type Storage,
  writeDocument,
} from '@relup/core'
import { WriteLostError } from './errors.js'

export type PointerState =
  | { status: 'ok'; pointer: CurrentPointer; etag: string }
  | { status: 'missing' }
  /** `current.json` is there but malformed; `error` says where and names `relup repair`. */
  | { status: 'corrupt'; etag: string; error: DocumentError }

export async function readPointerState(storage: Storage, keys: RelupKeys): Promise<PointerState> {
  const got = await storage.get(keys.current)
  if (got.status !== 'ok') return { status: 'missing' }
  try {
    return { status: 'ok', pointer: parseCurrentPointer(got.body, keys.current), etag: got.etag }
  } catch (error) {
    if (error instanceof DocumentError) return { status: 'corrupt', etag: got.etag, error }
    throw error
  }
}

/** The pointer, or null when there is none; a corrupt one throws its `DocumentError`. */
export async function readPointer(
  storage: Storage,
  keys: RelupKeys,
): Promise<{ pointer: CurrentPointer; etag: string } | null> {
  const state = await readPointerState(storage, keys)
  if (state.status === 'corrupt') throw state.error
  return state.status === 'ok' ? state : null
}

const describe = (p: CurrentPointer) =>
  `${p.hot ? `${p.hot.version} (upgrade ${p.hot.upgradeId})` : 'base code'} on base ${p.baseRef}, set by ${p.setBy} at ${p.setAt}`

/** Why the pointer is not `written` any more, and what that says about the store. */
function lostPointerMessage(storage: Storage, written: CurrentPointer, now: PointerState): string {
  const wrote = `this publisher wrote ${describe(written)}`
  if (now.status === 'missing') return `the pointer is gone although ${wrote}: run \`relup repair\`. `
  if (now.status === 'corrupt') return `the pointer is corrupt although ${wrote}: ${now.error.message} `
  const there = describe(now.pointer)
  if (now.pointer.setBy.startsWith('machine:') && now.pointer.baseRef !== written.baseRef)
    return `the pointer now says ${there}: a machine of another base started (a cold deploy) and reset it after ${wrote}. `
  return (
    `the pointer now says ${there}, although ${storage.name} accepted the compare-and-swap write in which ${wrote}. ` +
    'Either it was overwritten with --force, or the store ignores conditional writes (If-Match), so concurrent ' +
    'writers overwrite each other: run `relup doctor` against this storage. '
  )
}

/**
 * Check that the pointer in storage is `written`, field for field. Throws a `WriteLostError`
 * (with `context`: what was and was not done) when it is not.
 */
export async function verifyPointer(
  storage: Storage,
  keys: RelupKeys,
  written: CurrentPointer,
  context: string,
): Promise<void> {
  const now = await readPointerState(storage, keys)
  if (now.status === 'ok' && canonicalJson(now.pointer) === canonicalJson(written)) return
  throw new WriteLostError(lostPointerMessage(storage, written, now) + context)
}

/**
 * Write `next(current)` with compare-and-swap (create-only when there is no pointer), re-reading
 * when a machine wrote it meanwhile.
 */
export async function movePointer(
  storage: Storage,
  keys: RelupKeys,
  next: (current: CurrentPointer | null) => CurrentPointer,
): Promise<CurrentPointer> {
  for (let round = 0; round < 10; round++) {
    const current = await readPointer(storage, keys)
    const written = next(current?.pointer ?? null)
    const put = await writeDocument(
      storage,
      keys.current,
      written,
      current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
    )
    if (put.status === 'ok') return written
    // A retried write whose first attempt landed reports a failure although it won.
    const after = await readPointer(storage, keys)
    if (after && canonicalJson(after.pointer) === canonicalJson(written)) return written
  }
  throw new Error('the pointer kept changing while publishing (10 compare-and-swap rounds lost); try again')
}
