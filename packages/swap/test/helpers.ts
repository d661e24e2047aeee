import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach } from 'vitest'
import type { Logger } from '../src/index.js'

export type ReleaseFiles = Record<string, string | Buffer>

/** A temp directory per test, removed afterwards; `release()` writes one release into it. */
export function useReleases() {
  const roots: string[] = []
  afterEach(async () => {
    await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })))
  })
  return {
    async release(name: string, files: ReleaseFiles): Promise<string> {
      if (roots.length === 0) roots.push(await mkdtemp(join(tmpdir(), 'relup-swap-')))
      const dir = join(roots[0]!, name)
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(dir, path)), { recursive: true })
        await writeFile(join(dir, path), content)
      }
      return dir
    },
  }
}

export interface LogEntry {
  level: keyof Logger
  message: string
}

/** A logger that records instead of printing. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  const record = (level: keyof Logger) => (message: string) => {
    entries.push({ level, message })
  }
  return {
    entries,
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  }
}

export interface Deferred<T = void> {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** A probe hot modules can write to at top level, to prove whether they were evaluated. */
export function evaluationProbe(key: string): string[] {
  const list: string[] = []
  ;(globalThis as Record<string, unknown>)[key] = list
  return list
}

/** A unit module whose `counter` unit counts calls and reports its version; `extra` goes in the body. */
export function counterModule(
  version: string,
  options: { codeChange?: string; extra?: string } = {},
): string {
  return `
exports.units = {
  counter: {
    init: () => ({ count: 0 }),
    ${options.codeChange ? `codeChange: ${options.codeChange},` : ''}
    create: (ctx) => ({
      inc() { ctx.state.count += 1; return ${JSON.stringify(version)} + ':' + ctx.state.count },
      state() { return ctx.state },
      self() { return this },
    }),
  },
}
${options.extra ?? ''}
`
}
