// A minimal ustar writer for hostile archives: the real packer refuses to produce them.
import { gzipSync } from 'node:zlib'

export interface RawEntry {
  name: string
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6'
  body?: string | Buffer
  linkname?: string
  mode?: number
}

function header(entry: RawEntry, size: number): Buffer {
  const block = Buffer.alloc(512)
  const put = (value: string, offset: number, length: number) => block.write(value, offset, length, 'latin1')
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0')
  put(entry.name, 0, 100)
  put(octal(entry.mode ?? 0o644, 8), 100, 8)
  put(octal(0, 8), 108, 8)
  put(octal(0, 8), 116, 8)
  put(octal(size, 12), 124, 12)
  put(octal(946684800, 12), 136, 12)
  put('        ', 148, 8)
  put(entry.type ?? '0', 156, 1)
  put(entry.linkname ?? '', 157, 100)
  put('ustar\u000000', 257, 8)
  let sum = 0
  for (const byte of block) sum += byte
  put(`${octal(sum, 7)}\0`, 148, 8)
  return block
}

/** A gzipped tar of the given entries, exactly as written (no safety checks). */
export function hostileTgz(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '')
    const size = entry.type === undefined || entry.type === '0' ? body.length : 0
    parts.push(header(entry, size))
    if (size > 0) parts.push(body, Buffer.alloc((512 - (size % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(parts))
}
