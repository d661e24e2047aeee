/**
 * Where the CLI writes: results to stdout, progress to stderr (only on a terminal, never with
 * --json). A reader that goes away (`relup status | head -5`) is not an error: what is left to
 * write is dropped, and the command ends with its own exit code.
 */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  cwd: string
}

type Stream = Io['stdout']

export class Output {
  readonly json: boolean
  readonly #io: Io
  readonly #closed = new Set<Stream>()
  readonly #warnings: string[] = []
  #progressShown = false

  constructor(io: Io, json: boolean) {
    this.#io = io
    this.json = json
    for (const stream of [io.stdout, io.stderr]) {
      // EPIPE (the reader closed the pipe) and any later write error: stop writing there, quietly.
      stream.on?.('error', () => this.#closed.add(stream))
    }
  }

  #write(stream: Stream, text: string): void {
    if (this.#closed.has(stream) || (stream as { destroyed?: boolean }).destroyed) return
    stream.write(text)
  }

  get interactive(): boolean {
    return !this.json && this.#io.stderr.isTTY === true
  }

  /** A line of human output (skipped in --json mode). */
  line(text = ''): void {
    if (this.json) return
    this.#clearProgress()
    this.#write(this.#io.stdout, `${text}\n`)
  }

  /** A step of a long operation: shown on a terminal, quiet otherwise. */
  step(text: string): void {
    if (!this.interactive) return
    this.#clearProgress()
    this.#write(this.#io.stderr, `• ${text}\n`)
  }

  warn(text: string): void {
    this.#warnings.push(text)
    this.#clearProgress()
    if (!this.json) this.#write(this.#io.stderr, `warning: ${text}\n`)
  }

  /** A progress line rewritten in place (terminal only). */
  progress(text: string): void {
    if (!this.interactive) return
    this.#write(this.#io.stderr, `\r\x1b[2K${text}`)
    this.#progressShown = true
  }

  error(text: string): void {
    this.#clearProgress()
    // An error document carries the warnings given before it (a lock taken over, then a failure).
    if (this.json)
      this.#write(
        this.#io.stdout,
        `${JSON.stringify({ ok: false, error: text, ...(this.#warnings.length > 0 ? { warnings: [...this.#warnings] } : {}) }, null, 2)}\n`,
      )
    else this.#write(this.#io.stderr, `error: ${text}\n`)
  }

  /**
   * The command's result, in --json mode only. Every command's JSON has `warnings` (all given
   * so far) and `replacedLock` (whose deploy lock it took over, and why; null when none).
   */
  data(value: Record<string, unknown>): void {
    if (!this.json) return
    const document = { ...value, replacedLock: value.replacedLock ?? null, warnings: [...this.#warnings] }
    this.#write(this.#io.stdout, `${JSON.stringify(document, null, 2)}\n`)
  }

  #clearProgress(): void {
    if (this.#progressShown) {
      this.#write(this.#io.stderr, '\r\x1b[2K')
      this.#progressShown = false
    }
  }
}

/** Rows of cells as an aligned text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

export function ago(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (seconds < 60) return `${seconds}s ago`
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h ago`
  return `${Math.round(seconds / 86400)}d ago`
}

export const ms = (value: number | undefined) =>
  value === undefined ? '-' : value < 10 ? value.toFixed(2) : value.toFixed(0)

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
