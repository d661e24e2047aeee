/** What the supervisor reports as it runs (the CLI prints them; tests and tools observe them). */
import type { RelupError } from '@relup/core'

export interface SocketInfo {
  host: string
  /** As configured (0 = any free port). */
  port: number
  actualPort: number
}

export type SupervisorEvent =
  | { type: 'listening'; sockets: SocketInfo[] }
  | { type: 'spawned'; release: string; pid: number }
  | { type: 'ready'; release: string; pid: number; ms: number }
  /** A process did not say ready within the ready timeout: killed, then restarted as after a crash. */
  | { type: 'not-ready'; release: string; pid: number; reason: string }
  | {
      type: 'exited'
      release: string
      pid: number
      code: number | null
      signal: string | null
      expected: boolean
    }
  | { type: 'restarting'; release: string; attempt: number; inMs: number }
  /** A release crashed before it proved itself: the supervisor went back to the last good one. */
  | { type: 'fallback'; from: string; to: string; reason: string }
  | { type: 'handoff'; from: number; to: number; bytes: number }
  /** A process said it cannot serve (`unhealthy()` from @relup/supervisor/app). */
  | { type: 'unhealthy'; release: string; pid: number; reason: string }
  /** `handedOver`: idle keep-alive connections it passed to its successor instead of closing them. */
  | { type: 'drained'; release: string; pid: number; ms: number; killed: boolean; handedOver: number }
  | { type: 'cutover'; result: CutoverResult }
  | { type: 'stopping'; reason: string }
  | { type: 'stopped' }

export interface ProcessInfo {
  release: string
  pid: number
}

export type CutoverResult =
  | {
      status: 'completed'
      release: string
      pid: number
      previous: ProcessInfo | null
      /** From spawning the new process to its ready message. */
      readyMs: number
      /** From the drain request to the old process's exit. */
      drainMs: number
      /** The old process did not exit by the drain timeout and was killed. */
      killedOld: boolean
      /** Idle keep-alive connections the old process handed to the new one (kept open, never reset). */
      handedOver: number
    }
  | { status: 'failed'; release: string; error: RelupError; previous: ProcessInfo | null }
