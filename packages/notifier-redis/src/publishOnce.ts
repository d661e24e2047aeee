/**
 * One `PUBLISH` on a connection of its own, in Redis's wire protocol (RESP): what a publisher
 * needs to ring the doorbell. Loading ioredis costs a CLI process ~75 ms of synchronous
 * `require` before its first command, and `relup publish` is a process per deploy whose
 * start is part of the time to new code; a machine's subscription (reconnects, resubscribes)
 * stays on ioredis. Pub/sub ignores the database number, so a `/db` in the URL needs no SELECT.
 */
import { connect as connectTcp, isIP, type Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'

/** RESP array of bulk strings: how a client sends a command. */
function command(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
}

/**
 * Send `PUBLISH channel message` (after `AUTH` when the URL has credentials) and resolve with
 * the number of subscribers that received it. Rejects on a connection error, an error reply,
 * or no answer within `timeoutMs`.
 */
export function publishOnce(
  url: string,
  channel: string,
  message: string,
  timeoutMs: number,
): Promise<number> {
  const target = new URL(url)
  const tls = target.protocol === 'rediss:'
  const host = target.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1'
  const port = Number(target.port || 6379)
  const commands: string[] = []
  if (target.password)
    commands.push(
      target.username
        ? command('AUTH', decodeURIComponent(target.username), decodeURIComponent(target.password))
        : command('AUTH', decodeURIComponent(target.password)),
    )
  commands.push(command('PUBLISH', channel, message))

  return new Promise<number>((resolve, reject) => {
    const socket: Socket = tls
      ? connectTls({ host, port, ...(isIP(host) ? {} : { servername: host }) })
      : connectTcp({ host, port })
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    let settled = false
    function finish(error: Error | null, receivers = 0) {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(receivers)
    }
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(commands.join('')))
    socket.on('error', (error) => finish(error))
    socket.on('close', () => finish(new Error('the connection closed before Redis answered')))
    let buffered = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      // Every reply to AUTH and PUBLISH is one line: +OK, :<receivers>, or -<error>.
      for (let end = buffered.indexOf('\r\n'); end !== -1; end = buffered.indexOf('\r\n')) {
        const reply = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        commands.shift()
        if (reply.startsWith('-')) return finish(new Error(reply.slice(1)))
        if (commands.length === 0) return finish(null, Number(reply.slice(1)))
      }
    })
  })
}
