/**
 * Reading `current.json`: conditionally with the last ETag (an unchanged pointer costs a 304 and
 * no body), never going back to an older write of the pointer already seen (lower `seq`, same
 * lineage), and a malformed pointer as a value the caller reports, never as the pointer to act on.
 * A pointer deleted and created again has a new lineage: it is followed whatever its `seq`.
 */
import { type CurrentPointer, DocumentError, isStaleRead, parseCurrentPointer } from '@relup/core'
import type { RuntimeContext } from './types.js'

export interface MalformedPointer {
  status: 'malformed'
  etag: string
  body: Uint8Array
  error: DocumentError
}

export type PointerRead =
  | { status: 'ok'; pointer: CurrentPointer; etag: string }
  /** Unchanged since the last read, or a stale read (an older write of the same lineage) that was ignored. */
  | { status: 'not-modified' }
  | { status: 'not-found' }
  | MalformedPointer

export interface KnownPointer {
  pointer: CurrentPointer
  etag: string
}

export class PointerReader {
  readonly #ctx: RuntimeContext
  /** The last good pointer, read or written by this machine. */
  #known: KnownPointer | null = null
  /** The ETag of the last document read, good, malformed or stale: what a conditional read sends. */
  #etag: string | null = null
  /** The stale copy last warned about, so a lagging replica is reported once, not on every poll. */
  #staleWarned: string | null = null

  constructor(ctx: RuntimeContext) {
    this.#ctx = ctx
  }

  get known(): KnownPointer | null {
    return this.#known
  }

  get etag(): string | null {
    return this.#etag
  }

  async read(conditional: boolean): Promise<PointerRead> {
    const key = this.#ctx.keys.current
    const result = await this.#ctx.options.storage.get(
      key,
      conditional && this.#etag !== null ? { ifNoneMatch: this.#etag } : {},
    )
    if (result.status === 'not-found') {
      // Gone (deleted by hand, a wiped bucket): whatever pointer appears next is followed.
      this.#etag = null
      this.#known = null
      return result
    }
    if (result.status === 'not-modified') return result
    let pointer: CurrentPointer
    try {
      pointer = parseCurrentPointer(result.body, key)
    } catch (error) {
      if (!(error instanceof DocumentError)) throw error
      // Its ETag is kept, so the malformed body is not downloaded again on every poll.
      this.#etag = result.etag
      return { status: 'malformed', etag: result.etag, body: result.body, error }
    }
    const known = this.#known
    if (known !== null && isStaleRead(known.pointer, pointer)) {
      // An eventually consistent replica answering with an older write: never go back to it. Its
      // ETag is kept, so while the replica lags, polls cost a 304 and no body.
      this.#etag = result.etag
      if (this.#staleWarned !== result.etag) {
        this.#staleWarned = result.etag
        this.#ctx.options.logger.warn(
          { seq: pointer.seq, known: known.pointer.seq },
          `ignoring a stale pointer read (seq=${pointer.seq} known=${known.pointer.seq}): an older copy of the pointer`,
        )
      }
      return { status: 'not-modified' }
    }
    this.accept(pointer, result.etag)
    return { status: 'ok', pointer, etag: result.etag }
  }

  /** A pointer this machine wrote (first pointer, cold-deploy reset). */
  accept(pointer: CurrentPointer, etag: string): void {
    this.#known = { pointer, etag }
    this.#etag = etag
  }
}
