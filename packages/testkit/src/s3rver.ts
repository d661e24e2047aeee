import { fork } from 'node:child_process'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export interface S3rverOptions {
  /**
   * Make s3rver honour `If-None-Match: *` / `If-Match` on PUT and `If-Match` on DELETE,
   * atomically per key (default true). s3rver alone ignores them: turn this off only to show
   * what a store without conditional writes does.
   */
  enforceConditionalWrites?: boolean
  /** How long to wait for the server to come up (default 15 s). */
  startTimeoutMs?: number
}

export interface S3rverServer {
  /** `http://127.0.0.1:<port>`: use it with path-style addressing (`forcePathStyle: true`). */
  readonly endpoint: string
  readonly port: number
  readonly region: 'us-east-1'
  readonly accessKeyId: 'S3RVER'
  readonly secretAccessKey: 'S3RVER'
  /** Create a bucket (idempotent). */
  createBucket(name: string): Promise<void>
  /** Requests the server has received so far (for benchmarks). */
  requests(): number
  /**
   * What the server has received and spent so far, counted inside its process: requests by
   * class, response bytes, peak concurrency, its CPU. `resetPeak` starts a new peak from now.
   */
  stats(options?: { resetPeak?: boolean }): Promise<S3rverStats>
  /** Stop the server, kill its process and remove its files (idempotent). */
  stop(): Promise<void>
}

export interface S3rverStats {
  /**
   * Requests received, by the class a bucket bills them as: `GET` (GET and HEAD of an object),
   * `PUT` (PUT and POST), `LIST` (a GET of the bucket: listings), `DELETE`.
   */
  requests: { GET: number; PUT: number; LIST: number; DELETE: number }
  /** Response body bytes sent. */
  bytesOut: number
  /** The most requests in progress at once (since the start, or the last `resetPeak`). */
  peakConcurrent: number
  /** CPU the server process has used, user and system, in ms. */
  cpuMs: number
}

const SERVER_SCRIPT = fileURLToPath(new URL('../server/s3rverProcess.cjs', import.meta.url))
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

type ChildMessage =
  | { type: 'ready'; port: number; root: string }
  | { type: 'failed'; error: string }
  | { type: 'request' }
  | { type: 'done'; id: number; error?: string; value?: unknown }

/**
 * Start s3rver (a real S3-compatible server) on a free loopback port, in a child process that
 * dies with this one.
 */
export async function startS3rver(options: S3rverOptions = {}): Promise<S3rverServer> {
  const child = fork(SERVER_SCRIPT, [], {
    execArgv: ['--openssl-legacy-provider'],
    env: { ...process.env, RELUP_S3RVER_ENFORCE: options.enforceConditionalWrites === false ? '0' : '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
  })
  let root: string | undefined
  const removeFiles = () => {
    try {
      if (root) rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 })
    } catch {
      // Never throw from an exit handler over a temp directory.
    }
  }
  // The parent is exiting: no time for a graceful stop, and the killed child cannot clean up.
  const killOnExit = () => {
    child.kill('SIGKILL')
    removeFiles()
  }
  process.on('exit', killOnExit)

  let requestCount = 0
  let nextId = 0
  let pending = 0
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()

  // The IPC channel must not keep the parent alive on its own (a test that forgets stop() must
  // still end), except while the parent waits for an answer.
  const holdChannel = (hold: boolean) => {
    pending += hold ? 1 : -1
    if (pending > 0) child.channel?.ref()
    else child.channel?.unref()
  }

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.on('exit', (code, signal) => {
    process.off('exit', killOnExit)
    for (const { reject } of waiting.values())
      reject(new Error(`s3rver exited (code ${code}, signal ${signal})`))
    waiting.clear()
    removeFiles()
  })

  const ready = new Promise<{ port: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`s3rver did not start within ${options.startTimeoutMs ?? 15_000} ms`)),
      options.startTimeoutMs ?? 15_000,
    )
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`s3rver exited before it was ready (code ${code})`))
    })
    child.on('message', (message: ChildMessage) => {
      switch (message.type) {
        case 'request':
          requestCount++
          break
        case 'ready':
          clearTimeout(timer)
          root = message.root
          resolve({ port: message.port })
          break
        case 'failed':
          clearTimeout(timer)
          reject(new Error(`s3rver failed to start: ${message.error}`))
          break
        case 'done': {
          const entry = waiting.get(message.id)
          waiting.delete(message.id)
          if (message.error) entry?.reject(new Error(message.error))
          else entry?.resolve(message.value)
          break
        }
      }
    })
  })

  let port: number
  try {
    ;({ port } = await ready)
  } catch (error) {
    child.kill('SIGKILL')
    await exited
    throw error
  }
  child.unref()
  child.channel?.unref()

  /** Send `message` to the server process and wait for its answer. */
  async function ask(message: { type: string; [field: string]: unknown }): Promise<unknown> {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('s3rver is not running')
    const id = ++nextId
    holdChannel(true)
    try {
      return await new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject })
        child.send({ ...message, id })
      })
    } finally {
      holdChannel(false)
    }
  }

  let stopping: Promise<void> | undefined
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',

    async createBucket(name: string) {
      if (!BUCKET_NAME.test(name)) throw new Error(`invalid bucket name ${JSON.stringify(name)}`)
      await ask({ type: 'create-bucket', name })
    },

    requests: () => requestCount,

    stats: (statsOptions = {}) =>
      ask({ type: 'stats', resetPeak: statsOptions.resetPeak === true }) as Promise<S3rverStats>,

    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        if (child.connected) child.send({ type: 'stop' })
        else child.kill('SIGTERM')
        await exited
        clearTimeout(timer)
      })()
      return stopping
    },
  }
}

/** The environment a child process needs to reach `bucket` on `server` (what Fly.io sets for Tigris). */
export function s3rverEnv(
  server: Pick<S3rverServer, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>,
  bucket: string,
): {
  AWS_ENDPOINT_URL_S3: string
  AWS_REGION: string
  BUCKET_NAME: string
  AWS_ACCESS_KEY_ID: string
  AWS_SECRET_ACCESS_KEY: string
} {
  return {
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_REGION: server.region,
    BUCKET_NAME: bucket,
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
  }
}
