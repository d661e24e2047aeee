/**
 * The `--notify` notifier, opened on a worker thread. Its client library is the slowest thing the
 * CLI loads (ioredis: ~75 ms of synchronous `require`, more than the rest of a publish before the
 * pointer moves), and the pointer move is what machines wait for. On its own thread it loads
 * while the publish checks, packs and uploads on the main one, and is ready when the pointer has
 * moved. What the user sees is the same as with the notifier opened in process: a URL with an
 * unknown scheme or a missing adapter package is a configuration error before anything runs; an
 * unreachable engine is the adapter's own `NotifierError`, which the publish reports as a warning.
 */
import { Worker } from 'node:worker_threads'
import {
  type Notifier,
  NotifierAdapterMissingError,
  NotifierError,
  notifierPackageFor,
  type PointerNotice,
  redactUrl,
} from '@relup/core'

/**
 * The thread's code. A string rather than a file: the CLI runs from `dist` and, in its tests, from
 * `src`; the modules it imports are resolved by the caller (from the CLI package) and passed in.
 */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads')
const opening = Promise.all([import(workerData.core), import(workerData.adapter)]).then(([core, adapter]) =>
  core.openNotifier(workerData.url, () => Promise.resolve(adapter)),
)
opening.catch(() => {}) // reported to each announce
parentPort.on('message', async (message) => {
  try {
    const notifier = await opening
    if (message.type === 'announce') await notifier.announce(message.notice)
    else await notifier.close()
    parentPort.postMessage({ id: message.id, ok: true })
  } catch (error) {
    parentPort.postMessage({ id: message.id, ok: false, message: String(error && error.message || error) })
  }
})
`

interface Reply {
  id: number
  ok: boolean
  message?: string
}

/** Where a package resolves from this module; a missing one is the error that says what to install. */
function resolveFromCli(scheme: string, packageName: string): string {
  try {
    return import.meta.resolve(packageName)
  } catch (error) {
    throw new NotifierAdapterMissingError(scheme.slice(0, -1), packageName, error)
  }
}

/** A notifier that announces from a worker thread, started now (the thread loads the adapter at once). */
export function openNotifierThread(url: string): Notifier {
  const { scheme, packageName } = notifierPackageFor(url) // an unknown scheme throws ConfigError here
  const adapter = resolveFromCli(scheme, packageName)
  const name = redactUrl(url)
  const worker = new Worker(THREAD, {
    eval: true,
    workerData: { url, core: import.meta.resolve('@relup/core'), adapter },
    stdout: false,
    stderr: false,
  })
  worker.unref() // a command that never announces does not wait for the thread
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()
  let nextId = 0
  let exited: Error | null = null
  worker.on('message', (reply: Reply) => {
    const waiting = pending.get(reply.id)
    pending.delete(reply.id)
    if (reply.ok) waiting?.resolve()
    else waiting?.reject(new Error(reply.message))
  })
  const fail = (error: Error) => {
    exited = error
    for (const waiting of pending.values()) waiting.reject(error)
    pending.clear()
  }
  worker.on('error', fail)
  worker.on('exit', () => fail(new Error('the notifier thread ended')))
  const send = (message: { type: 'announce'; notice: PointerNotice } | { type: 'close' }) =>
    new Promise<void>((resolve, reject) => {
      if (exited) return reject(exited)
      const id = ++nextId
      pending.set(id, { resolve, reject })
      worker.ref() // an answer is awaited: keep the process alive for it
      worker.postMessage({ id, ...message })
    }).finally(() => {
      if (pending.size === 0) worker.unref()
    })
  let closed = false
  return {
    name,
    async announce(notice) {
      if (closed) throw new NotifierError(name, `the notifier ${name} is closed; the notice was not sent`)
      try {
        await send({ type: 'announce', notice })
      } catch (error) {
        // The adapter's NotifierError message already says what happened and what to check.
        throw new NotifierError(name, (error as Error).message, { cause: error })
      }
    },
    subscribe() {
      throw new Error('the CLI only announces: subscribe to a notifier opened in process')
    },
    async close() {
      if (closed) return
      closed = true
      // Give the adapter a moment to close its connection cleanly; the thread ends either way.
      let timer: NodeJS.Timeout | undefined
      const grace = new Promise((resolve) => {
        timer = setTimeout(resolve, 1000)
      })
      await Promise.race([send({ type: 'close' }), grace]).catch(() => {})
      clearTimeout(timer)
      await worker.terminate()
    },
  }
}
