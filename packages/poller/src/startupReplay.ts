/**
 * The startup replay's work on the pointer: none yet → write the first one (create-only); a base
 * the pointer has never seen → a cold deploy, reset it (compare-and-swap); a base it lists as
 * previous → an older generation, leave it alone; the same base with a hot upgrade → that
 * upgrade is due. It settles the pointer and names the upgrade; the caller applies it.
 */
import {
  type CurrentPointer,
  type Decision,
  decide,
  type HotUpgrade,
  initialPointer,
  type LocalMarker,
  resetPointer,
  writeDocument,
} from '@relup/core'
import { backoffDelay } from './backoff.js'
import { StartupError } from './errors.js'
import type { MalformedPointer, PointerRead, PointerReader } from './pointerReader.js'
import type { RuntimeContext } from './types.js'

/** Compare-and-swap rounds lost to other writers before the replay gives up. */
const MAX_ROUNDS = 10

export type ReplayOutcome =
  /**
   * The pointer names this base (or this machine leaves it alone: an older or rebuilt base);
   * `due` is the upgrade to apply, `decision` what `decide()` said (the caller reports a skip).
   */
  | { status: 'settled'; due: HotUpgrade | null; decision: Decision }
  /** A malformed pointer: nothing to decide on. The caller reports it. */
  | { status: 'malformed'; read: MalformedPointer }
  /** Still the malformed pointer read before (a 304): nothing new to decide on. */
  | { status: 'unchanged' }

export interface ReplayInput {
  reader: PointerReader
  /** What the process runs (null: base code). */
  running: LocalMarker | null
  /** The pointer as read for round `round` (0 first; later rounds follow a lost compare-and-swap). */
  read: (round: number) => Promise<PointerRead>
}

export async function replayPointer(ctx: RuntimeContext, input: ReplayInput): Promise<ReplayOutcome> {
  const { options, baseRef, baseDigest, keys } = ctx
  const { storage, logger } = options
  const context = { setBy: `machine:${options.machineId}`, baseDigest }
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const read = await input.read(round)
    if (read.status === 'malformed') return { status: 'malformed', read }
    let current: { pointer: CurrentPointer; etag: string } | null
    if (read.status === 'ok') current = read
    else if (read.status === 'not-found') current = null
    else if (input.reader.known) current = input.reader.known
    else return { status: 'unchanged' }

    if (current === null) {
      const next = initialPointer(options.app, baseRef, context)
      const put = await writeDocument(storage, keys.current, next, { ifNoneMatch: '*' })
      if (put.status === 'precondition-failed') continue // another machine was first: read theirs
      input.reader.accept(next, put.etag)
      logger.info({ baseRef }, 'first boot of the app: wrote the initial pointer')
      return { status: 'settled', due: null, decision: { action: 'init' } }
    }
    const decision = decide({
      pointer: current.pointer,
      baseRef,
      marker: input.running,
      baseDigest,
      machineId: options.machineId,
      refused: [...ctx.refused],
    })
    switch (decision.action) {
      case 'init': // only for an absent pointer, handled above
      case 'noop':
      case 'skip': // an older generation, or a base rebuilt under the same ref: the caller says which
        return { status: 'settled', due: null, decision }
      case 'reset': {
        const next = resetPointer(current.pointer, baseRef, context)
        const put = await writeDocument(storage, keys.current, next, { ifMatch: current.etag })
        if (put.status === 'precondition-failed') continue // someone moved it meanwhile: decide again
        input.reader.accept(next, put.etag)
        logger.info(
          { baseRef, from: decision.fromBaseRef },
          'cold deploy detected: the pointer now names this base',
        )
        return { status: 'settled', due: null, decision }
      }
      case 'apply':
        return { status: 'settled', due: decision.upgrade, decision }
    }
  }
  throw new StartupError(
    `the pointer kept changing during startup (${MAX_ROUNDS} rounds of compare-and-swap lost)`,
  )
}

/**
 * Not unref'd: before `listen()` nothing else may keep the process alive, and a process whose
 * startup is still retrying must not exit as if it had finished.
 */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Read the pointer unconditionally, retrying transport failures until the deadline (epoch ms). */
export async function readUntil(
  ctx: RuntimeContext,
  reader: PointerReader,
  deadline: number,
): Promise<PointerRead> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await reader.read(false)
    } catch (error) {
      if (Date.now() >= deadline) throw error
      const delay = Math.min(backoffDelay(attempt, 250, 5000), Math.max(0, deadline - Date.now()))
      ctx.options.logger.warn({ err: error, retryInMs: delay }, 'cannot read the pointer yet; retrying')
      await sleep(delay)
    }
  }
}
