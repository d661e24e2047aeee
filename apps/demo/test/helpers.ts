import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { type DemoServer, type StartOptions, startDemoServer } from '../src/demoProcess.js'
import { hotDir, repoDir } from '../src/paths.js'
import { type CliRun, runRelupCli } from '../src/relupCli.js'
import { EventStream } from '../src/sseClient.js'

/**
 * A throwaway storage + state directory, and everything started in it; `cleanUp()` (from
 * afterEach) closes the streams and kills the servers even when a test failed half-way.
 */
export class Workspace {
  readonly servers: DemoServer[] = []
  readonly streams: EventStream[] = []
  private constructor(readonly dir: string) {}

  static async create(): Promise<Workspace> {
    return new Workspace(await mkdtemp(join(tmpdir(), 'relup-demo-test-')))
  }

  get storageUrl(): string {
    return `file://${join(this.dir, 'storage')}`
  }

  async startServer(machineId: string, options: StartOptions = {}): Promise<DemoServer> {
    const server = await startDemoServer({
      ...options,
      env: {
        RELUP_STORAGE: this.storageUrl,
        RELUP_STATE_DIR: join(this.dir, 'state', machineId),
        RELUP_MACHINE_ID: machineId,
        RELUP_APP: 'demo',
        RELUP_BASE_REF: 'demo-image-1',
        RELUP_POLL_INTERVAL: '250',
        ...options.env,
      },
    })
    this.servers.push(server)
    return server
  }

  async openStream(server: DemoServer): Promise<EventStream> {
    const stream = await EventStream.open(`${server.url}/events`)
    this.streams.push(stream)
    return stream
  }

  /**
   * `relup publish apps/demo/hot/<version> --app demo --version <version> --expect <n> --json` with
   * the real binary (`dir` publishes another directory under that version name; `args` are added).
   */
  publish(
    version: string,
    options: {
      expect?: number
      storage?: string
      env?: NodeJS.ProcessEnv
      dir?: string
      args?: string[]
    } = {},
  ): Promise<CliRun> {
    return runRelupCli(
      [
        'publish',
        options.dir ?? relative(repoDir, hotDir(version)),
        '--app',
        'demo',
        '--storage',
        options.storage ?? this.storageUrl,
        '--version',
        version,
        '--expect',
        String(options.expect ?? 1),
        '--timeout',
        '20s',
        '--json',
        ...(options.args ?? []),
      ],
      { env: options.env ?? {}, timeoutMs: 30_000 },
    )
  }

  async cleanUp(): Promise<void> {
    for (const stream of this.streams) stream.close()
    await Promise.all(this.servers.map((server) => server.stop(3000)))
    await rm(this.dir, { recursive: true, force: true })
  }
}

export async function getJson(
  server: DemoServer,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${path}`, init)
  const text = await response.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: response.status, body }
}

export const increment = async (server: DemoServer) =>
  (await getJson(server, '/api/increment', { method: 'POST' })).body

/** A failed CLI run shows its output in the assertion message. */
export function describeRun(run: CliRun): string {
  return `exit ${run.code}\n${run.stdout}\n${run.stderr}`
}
