/**
 * Following `cold.json` while the supervisor runs. The release this machine should run is the
 * stable `release`, or the rollout's candidate when the machine is in its wave (`coldReleaseFor`).
 * A new one is obtained (coldReleases.ts), started beside the serving process and cut over to;
 * the machine writes `pending`, then `completed` or `failed`. A candidate is kept on probation
 * for the rollout's health window first (`probation`): the new process must stay up and not
 * report itself unhealthy (`unhealthy()` from @relup/supervisor/app), or the supervisor goes
 * back to the release that ran before it (the stable one) and the candidate is `failed` with
 * `ERR_RELUP_UNHEALTHY`. A candidate taken out of `cold.json` (a halt, an abort)
 * sends the machine back to the stable release, beside, with the state handoff; a promoted one
 * stays. A release that failed here is never tried again (its stored result says so, across
 * restarts of the supervisor). With a notifier, a notice makes it read `cold.json` at once and
 * the poll is a slow safety net.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type ColdPointer,
  type ColdRelease,
  coldKey,
  coldReleaseFor,
  type Notifier,
  type NotifierSubscription,
  openNotifier,
  parseColdPointer,
  RelupError,
  readDocument,
  relupKeys,
} from '@relup/core'
import type { Release } from './appProcess.js'
import {
  asRelupError,
  type ColdReleaseSource,
  obtainRelease,
  readResult,
  UNHEALTHY_CODE,
  WITHDRAWN_CODE,
  writeResult,
} from './coldReleases.js'
import { CutoverInProgressError } from './errors.js'
import type { SupervisorEvent } from './events.js'
import type { Supervisor } from './supervisor.js'

/** How often `cold.json` is read with a notifier: only a safety net for notices lost meanwhile. */
export const SAFETY_NET_POLL_MS = 60_000

export interface FollowOptions extends ColdReleaseSource {
  supervisor: Supervisor
  /**
   * What runs when `cold.json` names no stable release (the machine's own command): where a
   * machine goes back to from a candidate then. Default: what the supervisor runs when following starts.
   */
  base?: Release | undefined
  /** Default 1000 ms; 60,000 with a notifier. */
  pollInterval?: number | undefined
  /**
   * Read `cold.json` as soon as a publisher announces a move of it (`openColdNotifier(url)`);
   * the caller closes it.
   */
  notifier?: Notifier | undefined
  /** A line for the operator. */
  say?(line: string): void
}

/**
 * The notifier a URL (`redis://…`, `nats://…`; `relup run --notify`, `RELUP_NOTIFY`) names. Its
 * adapter package is an optional peer dependency, loaded only here; a missing one throws
 * `NotifierAdapterMissingError` saying what to install.
 */
export function openColdNotifier(url: string): Promise<Notifier> {
  return openNotifier(url, (name) => import(name))
}

export interface ColdFollower {
  /** Read `cold.json` now (as a notice does). */
  checkNow(): Promise<void>
  /** End the polling (and the subscription); a cutover in progress finishes first. */
  stop(): Promise<void>
}

interface OnProbation {
  release: ColdRelease
  startedAt: Date
  windowMs: number
  timer: NodeJS.Timeout
  /** What ran before it: where the machine goes back to. */
  fallback: Release | undefined
}

export function followColdReleases(options: FollowOptions): ColdFollower {
  const { supervisor } = options
  const key = coldKey(relupKeys(options.app, { prefix: options.prefix }))
  const interval = options.pollInterval ?? (options.notifier ? SAFETY_NET_POLL_MS : 1000)
  const say = options.say ?? (() => {})
  const base = options.base ?? supervisor.currentRelease
  const failed = new Set<string>()
  /** Releases reported completed here: one that crashes later is reported failed. */
  const released = new Map<string, ColdRelease>()
  /** Candidates this machine started: when the rollout goes, it goes back from them. */
  const candidates = new Set<string>()
  let probation: OnProbation | null = null
  let pointer: ColdPointer | null = null
  let etag: string | undefined
  let stopped = false
  let timer: NodeJS.Timeout | null = null
  let outage = false
  let chain: Promise<void> = Promise.resolve()
  let pollQueued = false

  /** One thing at a time: a poll, the end of a probation, a crash on probation. */
  const serialize = (work: () => Promise<void>): Promise<void> => {
    chain = chain.then(work).catch((error: unknown) => {
      say(`following ${key}: ${(error as Error).message}`)
    })
    return chain
  }

  const unsubscribe = supervisor.subscribe((event) => onEvent(event))

  function onEvent(event: SupervisorEvent): void {
    if (event.type === 'unhealthy') {
      const active = probation
      if (active?.release.releaseId === event.release)
        void serialize(() => failProbation(active, `reported itself unhealthy (${event.reason})`, true))
      return
    }
    if (event.type !== 'exited' || event.expected) return
    const active = probation
    if (active?.release.releaseId === event.release) {
      // Runs after the supervisor reacted to the exit (it went back to the fallback release).
      const how = event.signal ? `was killed by ${event.signal}` : `exited with code ${event.code}`
      void serialize(() => failProbation(active, how))
      return
    }
    const release = released.get(event.release)
    if (!release) return
    // A release that proved itself here and crashed later: the supervisor restarts or falls back.
    void serialize(async () => {
      const to = supervisor.current?.release
      if (!to || to === release.releaseId) return
      failed.add(release.releaseId)
      released.delete(release.releaseId)
      await writeResult(
        options,
        release,
        'failed',
        new Date(),
        new RelupError(
          'ERR_RELUP_COLD_CRASHED',
          `${release.releaseId} crashed; the machine went back to ${to}`,
        ),
      ).catch(() => {})
    })
  }

  const poll = async () => {
    pollQueued = false
    if (stopped) return
    try {
      const read = await readDocument(options.storage, key, parseColdPointer, { ifNoneMatch: etag })
      outage = false
      // Unchanged (or gone): what runs here already follows it.
      if (read.status !== 'ok') return
      etag = read.etag
      pointer = read.document
    } catch (error) {
      if (!outage) say(`cannot read ${key}: ${(error as Error).message}; still serving, retrying`)
      outage = true
      return
    }
    await follow(pointer)
  }

  /** Run what `pointer` says this machine runs. */
  const follow = async (pointer: ColdPointer) => {
    let { release: target, candidate } = coldReleaseFor(pointer, options.machineId)
    if (candidate && (await failedHere(candidate.release))) {
      target = pointer.release
      candidate = null
    }
    const active = probation
    if (active && active.release.releaseId !== target?.releaseId) await withdraw(active)
    const serving = supervisor.current?.release ?? null
    if (target === null) {
      // The rollout of a first cold release went: back to the machine's own command.
      if (serving && candidates.has(serving) && base) await cutBack(base)
      return
    }
    if (target.releaseId === serving || failed.has(target.releaseId)) return
    await upgrade(target, candidate?.rollout.healthWindowMs ?? null)
  }

  /** Whether `release` failed here before (this process, or an earlier one of this machine). */
  const failedHere = async (release: ColdRelease) => {
    if (failed.has(release.releaseId)) return true
    if (supervisor.current?.release === release.releaseId) return false
    const stored = await readResult(options, release.releaseId).catch(() => null)
    if (stored?.status !== 'failed') return false
    failed.add(release.releaseId)
    return true
  }

  /** Cut over to `release`; `windowMs`: a candidate, kept on probation that long. */
  const upgrade = async (release: ColdRelease, windowMs: number | null) => {
    const startedAt = new Date()
    const what = windowMs === null ? 'cold release' : 'cold release candidate'
    say(`${what} ${release.version} (${release.releaseId}): ${release.reason || 'published'}`)
    await writeResult(options, release, 'pending', startedAt, null).catch(() => {})
    const fallback = supervisor.currentRelease ?? base ?? undefined
    let failure: RelupError | null = null
    try {
      const next = await obtainRelease(options, release)
      const result = await supervisor
        .cutover(next, windowMs === null ? {} : { fallback, stableAfter: windowMs })
        .catch((error: unknown) => {
          // Another cutover (a SIGUSR2 reload) runs: not this release's fault; the next poll tries again.
          if (error instanceof CutoverInProgressError) etag = undefined
          throw error
        })
      if (result.status === 'failed') failure = result.error
    } catch (error) {
      if (error instanceof CutoverInProgressError) return
      failure = asRelupError(error)
      await rm(join(options.releasesDir, release.releaseId), { recursive: true, force: true }).catch(() => {})
    }
    if (failure) {
      failed.add(release.releaseId)
      await writeResult(options, release, 'failed', startedAt, failure)
      say(`cold release ${release.version} failed: ${failure.message}`)
      return
    }
    if (windowMs === null) return complete(release, startedAt)
    candidates.add(release.releaseId)
    const onProbation: OnProbation = {
      release,
      startedAt,
      windowMs,
      timer: setTimeout(() => void serialize(() => passProbation(onProbation)), windowMs),
      fallback,
    }
    // Set before anything is awaited: an exit from now on is this probation's failure.
    probation = onProbation
    await writeResult(options, release, 'probation', startedAt, null)
    say(`on probation: cold release ${release.version} for ${Math.round(windowMs / 100) / 10} s`)
    // It died while the old process drained, after it said ready: the supervisor went back already.
    if (supervisor.current?.release !== release.releaseId)
      await failProbation(onProbation, 'exited during its cutover')
  }

  const complete = async (release: ColdRelease, startedAt: Date) => {
    released.set(release.releaseId, release)
    await writeResult(options, release, 'completed', startedAt, null)
    say(`now running cold release ${release.version}`)
  }

  /** The health window passed with the candidate still serving: it is this machine's release now. */
  const passProbation = async (active: OnProbation) => {
    if (probation !== active) return
    probation = null
    if (supervisor.current?.release !== active.release.releaseId) return
    await complete(active.release, active.startedAt)
  }

  /**
   * The candidate failed within its health window: its process died (the supervisor already
   * went back to the fallback), or it is `alive` but reported itself unhealthy (then the
   * fallback is started beside it, with the same sockets, and the candidate drains and hands
   * its state over).
   */
  const failProbation = async (active: OnProbation, how: string, alive = false) => {
    if (probation !== active) return
    clearTimeout(active.timer)
    probation = null
    failed.add(active.release.releaseId)
    const ms = Date.now() - active.startedAt.getTime()
    if (alive && active.fallback && supervisor.current?.release === active.release.releaseId) {
      const back = await supervisor.cutover(active.fallback).catch((error: Error) => error)
      if (back instanceof Error || back.status === 'failed')
        say(
          `cannot go back to ${active.fallback.id}: ${back instanceof Error ? back.message : back.error.message}`,
        )
    }
    const now = supervisor.current?.release ?? 'nothing (restarting)'
    const failure = new RelupError(
      UNHEALTHY_CODE,
      `cold release ${active.release.version} ${how} ${ms} ms into its health window of ${active.windowMs} ms; ` +
        `the machine went back to ${now}, and does not start it again (publish a fixed release)`,
    )
    await writeResult(options, active.release, 'failed', active.startedAt, failure).catch(() => {})
    say(failure.message)
    if (pointer) await follow(pointer)
  }

  /** The rollout no longer runs the candidate here (halted, aborted, replaced): reported, then left by `follow`. */
  const withdraw = async (active: OnProbation) => {
    clearTimeout(active.timer)
    probation = null
    const failure = new RelupError(
      WITHDRAWN_CODE,
      `the rollout of cold release ${active.release.version} was withdrawn while it was on probation here; going back to the stable release`,
    )
    await writeResult(options, active.release, 'failed', active.startedAt, failure).catch(() => {})
  }

  /** Back to the machine's own command (no cold release is stable yet). */
  const cutBack = async (release: Release) => {
    say(`the rollout went: back to ${release.id}`)
    await supervisor.cutover(release).catch((error: Error) => {
      if (error instanceof CutoverInProgressError) etag = undefined
      else say(`cannot go back to ${release.id}: ${error.message}`)
    })
  }

  const checkNow = (): Promise<void> => {
    if (stopped) return Promise.resolve()
    if (pollQueued) return chain
    pollQueued = true
    return serialize(poll)
  }

  const loop = () => {
    if (stopped) return
    void checkNow().finally(() => {
      if (!stopped) timer = setTimeout(loop, interval)
    })
  }

  let subscription: NotifierSubscription | null = null
  if (options.notifier) {
    let wasDown = false
    subscription = options.notifier.subscribe(key, {
      onNotice: () => void checkNow(),
      onState: (state) => {
        if (state === 'disconnected') {
          if (!wasDown)
            say(
              `notifier ${options.notifier?.name} unreachable; cold releases still arrive through the safety-net poll (every ${Math.round(interval / 1000)} s)`,
            )
          wasDown = true
        } else if (state === 'connected' && wasDown) {
          wasDown = false
          void checkNow() // a notice may have been sent while it was down
        }
      },
    })
  }
  loop()
  return {
    checkNow,
    async stop() {
      stopped = true
      unsubscribe()
      if (timer) clearTimeout(timer)
      if (probation) clearTimeout(probation.timer)
      await subscription?.close().catch(() => {})
      await chain
    },
  }
}
