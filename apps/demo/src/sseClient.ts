/** A small Server-Sent Events client over fetch, which keeps every event it receives. */

export interface ReceivedEvent {
  event: string
  data: any
}

export class EventStream {
  readonly events: ReceivedEvent[] = []
  #closed = false
  #waiters = new Set<() => void>()
  readonly #abort: AbortController
  /** Resolves when the server ends the stream (or `close()` is called). */
  readonly ended: Promise<void>

  private constructor(body: ReadableStream<Uint8Array>, abort: AbortController) {
    this.#abort = abort
    this.ended = this.#read(body)
  }

  /** Connect and wait for the response headers. */
  static async open(url: string): Promise<EventStream> {
    const abort = new AbortController()
    const response = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: abort.signal })
    if (!response.ok || !response.body) throw new Error(`GET ${url} answered ${response.status}`)
    return new EventStream(response.body, abort)
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Events of one type, in arrival order. */
  named(event: string): ReceivedEvent[] {
    return this.events.filter((e) => e.event === event)
  }

  /** The first event (already received or still to come) that matches; rejects after `timeoutMs`. */
  waitFor(
    predicate: (event: ReceivedEvent) => boolean,
    timeoutMs = 10_000,
    what = 'the expected event',
  ): Promise<ReceivedEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(predicate)
        if (found) return finish(() => resolve(found))
        if (this.#closed) finish(() => reject(new Error(`the event stream ended before ${what} arrived`)))
      }
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${what} did not arrive within ${timeoutMs} ms`))),
        timeoutMs,
      )
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        settle()
      }
      this.#waiters.add(check)
      check()
    })
  }

  close(): void {
    this.#abort.abort()
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n')
        let end = buffer.indexOf('\n\n')
        while (end !== -1) {
          this.#dispatch(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
          end = buffer.indexOf('\n\n')
        }
      }
    } catch {
      // Aborted by close(), or the connection dropped: either way the stream is over.
    } finally {
      this.#closed = true
      for (const waiter of [...this.#waiters]) waiter()
    }
  }

  #dispatch(block: string): void {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
    }
    if (data.length === 0) return
    const text = data.join('\n')
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {}
    this.events.push({ event, data: parsed })
    for (const waiter of [...this.#waiters]) waiter()
  }
}
