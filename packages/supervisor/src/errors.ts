/** The typed errors of the supervisor and of the app-side helper; messages say what to do next. */
import { RelupError } from '@relup/core'

/** A listening socket could not be bound (port in use, no permission). Nothing was started. */
export class ListenError extends RelupError {
  static readonly code = 'ERR_RELUP_LISTEN'
  readonly port: number
  readonly host: string

  constructor(host: string, port: number, reason: string) {
    super(
      ListenError.code,
      `the supervisor cannot listen on ${host}:${port} (${reason}); stop what holds the port or choose another with --port`,
    )
    this.port = port
    this.host = host
  }
}

/** A new app process did not become ready in time (it crashed while starting, or never said ready). */
export class ChildNotReadyError extends RelupError {
  static readonly code = 'ERR_RELUP_CHILD_NOT_READY'
  readonly release: string

  constructor(release: string, reason: string) {
    super(
      ChildNotReadyError.code,
      `release ${release} did not become ready: ${reason}; it was stopped and the previous process keeps serving. ` +
        'Run its command by hand to see why, and check that it calls listen() from @relup/supervisor/app ' +
        '(or ready() after its own listen).',
    )
    this.release = release
  }
}

/** A cutover was asked for while another one runs (one at a time per machine). */
export class CutoverInProgressError extends RelupError {
  static readonly code = 'ERR_RELUP_CUTOVER_IN_PROGRESS'

  constructor(release: string, running: string) {
    super(
      CutoverInProgressError.code,
      `cannot cut over to ${release}: the cutover to ${running} is still running; wait for it to finish and try again`,
    )
  }
}

/** The supervisor is stopping or stopped: nothing more is started. */
export class SupervisorStoppedError extends RelupError {
  static readonly code = 'ERR_RELUP_SUPERVISOR_STOPPED'

  constructor(what: string) {
    super(
      SupervisorStoppedError.code,
      `cannot ${what}: the supervisor is stopping; start it again with relup run`,
    )
  }
}

/** App side: the supervisor owns no socket for the port the app asked for. */
export class NoSupervisedSocketError extends RelupError {
  static readonly code = 'ERR_RELUP_NO_SOCKET'
  readonly port: number

  constructor(port: number, available: number[]) {
    super(
      NoSupervisedSocketError.code,
      `the supervisor owns no socket for port ${port} (it listens on ${available.join(', ') || 'nothing'}); ` +
        `start it with --port ${port}, or listen on one of those ports`,
    )
    this.port = port
  }
}

/** App side: the state handed to the next version is not plain data (a function, a class instance…). */
export class HandoffNotPlainError extends RelupError {
  static readonly code = 'ERR_RELUP_HANDOFF_NOT_PLAIN'
  readonly path: string

  constructor(path: string, problem: string) {
    super(
      HandoffNotPlainError.code,
      `the handoff state at ${path} is ${problem}: only plain data (objects, arrays, strings, finite numbers, ` +
        'booleans, null) crosses to the next version; turn it into data and rebuild it in the new process',
    )
    this.path = path
  }
}
