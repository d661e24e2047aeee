/**
 * A fleet of demo servers (real processes, one state directory each) on one storage, and the
 * real `relup` binary pointed at it. `cleanUp()` kills every process it started, also after a
 * failed step.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { listAll, relupKeys } from '@relup/core'
import { type DemoServer, startDemoServer } from '../../src/demoProcess.js'
import { hotDir, repoDir } from '../../src/paths.js'
import { type CliRun, runRelupCli } from '../../src/relupCli.js'
import type { FleetBackend } from './backends.js'

export const APP = 'demo'
/** Short, so that an upgrade lands well within a CLI results poll (500 ms). */
const POLL_INTERVAL_MS = '150'

export class Fleet {
  readonly #servers: DemoServer[] = []
  private constructor(
    readonly backend: FleetBackend,
    readonly dir: string,
  ) {}

  static async create(backend: FleetBackend): Promise<Fleet> {
    return new Fleet(backend, await mkdtemp(join(tmpdir(), 'relup-fleet-')))
  }

  /** Start one machine on `baseRef` and wait for its ready line (`env` adds to or overrides its environment). */
  async start(machineId: string, baseRef: string, env: NodeJS.ProcessEnv = {}): Promise<DemoServer> {
    const server = await startDemoServer({
      env: {
        ...this.machineEnv(machineId, baseRef),
        ...env,
      },
      timeoutMs: 20_000,
    })
    this.#servers.push(server)
    return server
  }

  /** The environment of machine `machineId`: its storage, ids, state directory and base release. */
  machineEnv(machineId: string, baseRef: string): NodeJS.ProcessEnv {
    return {
      ...this.backend.env,
      RELUP_STORAGE: this.backend.storageUrl,
      RELUP_APP: APP,
      RELUP_BASE_REF: baseRef,
      RELUP_MACHINE_ID: machineId,
      RELUP_REGION: 'loopback',
      RELUP_STATE_DIR: join(this.dir, 'state', machineId),
      RELUP_POLL_INTERVAL: POLL_INTERVAL_MS,
      RELUP_HOT_DIR: hotDir('v1'),
    }
  }

  /**
   * Start several machines at once. Waits for every start to settle before failing, so that no
   * process is left running untracked when one of them cannot start.
   */
  async startAll(machineIds: string[], baseRef: string): Promise<DemoServer[]> {
    const settled = await Promise.allSettled(machineIds.map((id) => this.start(id, baseRef)))
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
    return settled.map((s) => (s as PromiseFulfilledResult<DemoServer>).value)
  }

  /** `relup <command> … --app demo --storage <url> --json` with the real binary. */
  cli(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
    return runRelupCli([command, ...args, '--app', APP, '--storage', this.backend.storageUrl, '--json'], {
      env: { ...this.backend.env, ...env },
      timeoutMs: 30_000,
    })
  }

  /** `relup publish <dir> --version <version>`, `dir` defaulting to `apps/demo/hot/<version>`. */
  publish(
    version: string,
    options: { dir?: string; expect?: number; env?: NodeJS.ProcessEnv; args?: string[] } = {},
  ): Promise<CliRun> {
    const dir = options.dir ?? relative(repoDir, hotDir(version))
    const expect = options.expect === undefined ? [] : ['--expect', String(options.expect)]
    const extra = options.args ?? []
    return this.cli(
      'publish',
      [dir, '--version', version, ...expect, '--timeout', '15s', ...extra],
      options.env,
    )
  }

  /** `relup status --json`; it exits 1 when a machine failed or is behind, with the same JSON. */
  async status(): Promise<any> {
    const run = await this.cli('status', [])
    if ((run.code !== 0 && run.code !== 1) || run.json === null)
      throw new Error(`relup status failed: exit ${run.code}\n${run.stdout}\n${run.stderr}`)
    return run.json
  }

  /** Every result document in storage, as `{ upgradeId, machineId }`. */
  async results(): Promise<{ upgradeId: string; machineId: string }[]> {
    const { resultsPrefix } = relupKeys(APP)
    const found: { upgradeId: string; machineId: string }[] = []
    for await (const item of listAll(this.backend.storage, resultsPrefix)) {
      const [upgradeId, file] = item.key.slice(resultsPrefix.length).split('/')
      found.push({ upgradeId: upgradeId!, machineId: file!.replace(/\.json$/, '') })
    }
    return found
  }

  /** The machines started so far that have not exited. */
  running(): DemoServer[] {
    return this.#servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null)
  }

  /** Logs of every machine, for a failing assertion's message. */
  logs(): string {
    return this.#servers.map((s) => `--- ${s.ready.machineId} ---\n${s.log()}`).join('\n')
  }

  async cleanUp(): Promise<void> {
    await Promise.all(this.#servers.map((server) => server.stop(3000)))
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Call `probe` until `done` accepts its answer (or `timeoutMs` passes) and return the last answer,
 * so that the caller's assertions show what was seen when it gave up.
 */
export async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 5000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await probe()
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
    value = await probe()
  }
  return value
}
