/**
 * A second, independent look at the raw tar stream, block by block, before tar's `Parser` sees
 * it. The Parser decodes a name up to its first NUL and never shows the raw header, so an entry
 * named `safe.js\0../../evil` reaches us as `safe.js` while another tool may read more. This
 * scanner refuses what the Parser would silently normalise:
 *
 * - a name, link name or ustar prefix with bytes after a NUL;
 * - a pax `path`/`linkpath` record or GNU long name holding NUL or control characters, any pax
 *   record value holding a NUL or newline, or a malformed pax record;
 * - pax global headers (they silently change every later entry);
 * - extended headers over 64 KiB, or more than 8 in a row (metadata that never ends);
 * - a missing end-of-archive marker, or non-zero data after it.
 *
 * It decodes headers with tar's own `Header`/`Pax`, so it sees each entry exactly as the Parser
 * does, and `matchEntry` checks that both agree on the sequence of entries.
 */
import { printable } from '@relup/core/release'
import { Header, type HeaderData, Pax } from 'tar'
import { UnsafeArchiveError } from './errors.js'

const BLOCK = 512
export const MAX_META_BYTES = 64 * 1024
const MAX_META_IN_A_ROW = 8
const PAX_TYPES = new Set(['x', 'X'])
const LONG_NAME_TYPES = new Set(['L', 'N'])
const LONG_LINK_TYPES = new Set(['K'])
// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/

/** The bytes are not a readable tar stream (as opposed to a readable but hostile one). */
export class TarFormatError extends Error {}

interface Expected {
  path: string
  type: string
}

export class TarScanner {
  #state: 'header' | 'body' | 'end' = 'header'
  readonly #header = Buffer.alloc(BLOCK)
  #headerFill = 0
  /** Bytes of the current entry's body still to skip, padding included. */
  #bodyRemain = 0
  /** The body of the extended header being read, if the current entry is one. */
  #meta: { type: string; size: number; chunks: Buffer[]; length: number } | undefined
  #metaInARow = 0
  /** Extended header data pending for the next entry, as the Parser keeps it. */
  #extended: HeaderData | undefined
  #zeroBlocks = 0
  #offset = 0
  readonly #expected: Expected[] = []

  feed(chunk: Buffer): void {
    let position = 0
    while (position < chunk.length) {
      if (this.#state === 'end') {
        for (let i = position; i < chunk.length; i++) {
          if (chunk[i] !== 0)
            throw new UnsafeArchiveError('(end of archive)', 'has data after the end-of-archive marker')
        }
        position = chunk.length
      } else if (this.#state === 'body') {
        const take = Math.min(this.#bodyRemain, chunk.length - position)
        if (this.#meta !== undefined && this.#meta.length < this.#meta.size) {
          const part = chunk.subarray(
            position,
            position + Math.min(take, this.#meta.size - this.#meta.length),
          )
          this.#meta.chunks.push(Buffer.from(part))
          this.#meta.length += part.length
        }
        this.#bodyRemain -= take
        this.#offset += take
        position += take
        if (this.#bodyRemain === 0) this.#endBody()
      } else {
        const take = Math.min(BLOCK - this.#headerFill, chunk.length - position)
        chunk.copy(this.#header, this.#headerFill, position, position + take)
        this.#headerFill += take
        this.#offset += take
        position += take
        if (this.#headerFill === BLOCK) {
          this.#headerFill = 0
          this.#onHeader(this.#header)
        }
      }
    }
  }

  /** The stream ended: it must have ended with the end-of-archive marker. */
  end(): void {
    if (this.#state === 'end') return
    if (this.#state === 'body' || this.#headerFill > 0)
      throw new TarFormatError('the tar stream is truncated (it ends inside an entry)')
    throw new TarFormatError('the tar stream has no end-of-archive marker (it is truncated)')
  }

  /** Called for each entry the Parser emits: it must be the next one the scanner saw. */
  matchEntry(path: string, type: string): void {
    const expected = this.#expected.shift()
    if (expected === undefined || expected.path !== path || expected.type !== type) {
      throw new UnsafeArchiveError(path, 'is read differently by two tar readers (ambiguous headers)')
    }
  }

  /** The Parser finished: it must have emitted every entry the scanner saw. */
  finish(): void {
    const missed = this.#expected[0]
    if (missed !== undefined) {
      throw new UnsafeArchiveError(missed.path, 'is read differently by two tar readers (ambiguous headers)')
    }
  }

  #onHeader(block: Buffer): void {
    if (isZero(block)) {
      // Like the Parser: two zero blocks in a row end the archive.
      if (++this.#zeroBlocks === 2) this.#state = 'end'
      return
    }
    this.#zeroBlocks = 0
    let header: Header
    try {
      header = new Header(block, 0, this.#extended)
    } catch (error) {
      throw new TarFormatError(
        `unreadable tar header at byte ${this.#offset - BLOCK}: ${(error as Error).message}`,
      )
    }
    if (!header.cksumValid)
      throw new TarFormatError(`bad tar header checksum at byte ${this.#offset - BLOCK}`)
    const name = header.path ?? ''
    checkRawField(block, 0, 100, name, 'name')
    checkRawField(block, 157, 100, name, 'link name')
    if (block.subarray(257, 263).toString('latin1') === 'ustar\0') {
      // Mirror the decoder: a non-zero byte 475 means a 155-byte prefix, else 130 bytes followed by atime/ctime.
      checkRawField(block, 345, block[475] !== 0 ? 155 : 130, name, 'prefix')
    }
    const type = header.typeKey
    const size = header.size ?? 0
    if (type === 'g') {
      throw new UnsafeArchiveError(
        name,
        'is a pax global header, which relup does not accept (it changes every later entry)',
      )
    }
    if (PAX_TYPES.has(type) || LONG_NAME_TYPES.has(type) || LONG_LINK_TYPES.has(type)) {
      if (++this.#metaInARow > MAX_META_IN_A_ROW) {
        throw new UnsafeArchiveError(name, `is the ${MAX_META_IN_A_ROW + 1}th extended header in a row`)
      }
      if (size > MAX_META_BYTES) {
        throw new UnsafeArchiveError(
          name,
          `is an extended header of ${size} bytes (more than ${MAX_META_BYTES})`,
        )
      }
      // An empty extended header changes nothing, for the Parser as for us.
      if (size > 0) this.#meta = { type, size, chunks: [], length: 0 }
    } else {
      this.#metaInARow = 0
      this.#extended = undefined
      this.#expected.push({ path: name, type: header.type })
    }
    this.#bodyRemain = BLOCK * Math.ceil(size / BLOCK)
    if (this.#bodyRemain > 0) this.#state = 'body'
    else this.#endBody()
  }

  #endBody(): void {
    this.#state = 'header'
    const meta = this.#meta
    if (meta === undefined) return
    this.#meta = undefined
    const body = Buffer.concat(meta.chunks)
    if (PAX_TYPES.has(meta.type)) {
      checkPaxRecords(body)
      this.#extended = Pax.parse(body.toString('utf8'), this.#extended, false)
    } else {
      const value = nulTerminated(body, 'a GNU long name')
      this.#extended = { ...this.#extended, [LONG_NAME_TYPES.has(meta.type) ? 'path' : 'linkpath']: value }
    }
  }
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false
  return true
}

/** A NUL-terminated header field: after the first NUL, only NULs. */
function checkRawField(block: Buffer, offset: number, length: number, name: string, field: string): void {
  const bytes = block.subarray(offset, offset + length)
  const nul = bytes.indexOf(0)
  if (nul === -1) return
  for (let i = nul + 1; i < bytes.length; i++) {
    if (bytes[i] !== 0)
      throw new UnsafeArchiveError(
        smuggled(bytes),
        `has a ${field} with bytes after a NUL byte (entry ${printable(name)})`,
      )
  }
}

function nulTerminated(body: Buffer, what: string): string {
  const nul = body.indexOf(0)
  const end = nul === -1 ? body.length : nul
  for (let i = end; i < body.length; i++) {
    if (body[i] !== 0) throw new UnsafeArchiveError(smuggled(body), `is ${what} with bytes after a NUL byte`)
  }
  const value = body.subarray(0, end).toString('utf8')
  if (CONTROL_CHARACTER.test(value))
    throw new UnsafeArchiveError(value, `is ${what} with a control character`)
  return value
}

/**
 * Walk the pax records by their length prefixes (`"<len> <key>=<value>\n"`). A malformed record,
 * or a `path`/`linkpath` holding NUL or control characters, is refused: tar's Parser splits
 * records on newlines and would skip such a record, reading another name than other tools do.
 */
function checkPaxRecords(body: Buffer): void {
  let position = 0
  while (position < body.length) {
    const space = body.indexOf(0x20, position)
    const length = space === -1 ? Number.NaN : Number(body.subarray(position, space).toString('latin1'))
    if (!Number.isSafeInteger(length) || length <= space - position + 1 || position + length > body.length) {
      throw new UnsafeArchiveError('(pax header)', 'is a malformed pax extended header')
    }
    const record = body.subarray(space + 1, position + length)
    const equals = record.indexOf(0x3d)
    if (equals === -1 || record[record.length - 1] !== 0x0a) {
      throw new UnsafeArchiveError('(pax header)', 'is a malformed pax extended header')
    }
    const key = record.subarray(0, equals).toString('utf8')
    const value = record.subarray(equals + 1, record.length - 1).toString('utf8')
    if ((key === 'path' || key === 'linkpath') && CONTROL_CHARACTER.test(value)) {
      throw new UnsafeArchiveError(value, `has a pax ${key} with a NUL byte or control character`)
    }
    // Any value with a NUL or newline would be cut or split differently by different readers.
    if (value.includes('\0') || value.includes('\n')) {
      throw new UnsafeArchiveError(
        '(pax header)',
        `has a pax ${printable(key)} record with a NUL byte or newline`,
      )
    }
    position += length
  }
}

function smuggled(bytes: Buffer): string {
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  return bytes.subarray(0, end).toString('utf8')
}
