export type { ProcessExit, Release } from './appProcess.js'
export type { RestartDelay } from './backoff.js'
export {
  bootRelease,
  ColdArtifactMissingError,
  type ColdReleaseSource,
  type FollowOptions,
  followColdReleases,
  obtainRelease,
  readColdPointer,
} from './coldReleases.js'
export {
  ChildNotReadyError,
  CutoverInProgressError,
  HandoffNotPlainError,
  ListenError,
  NoSupervisedSocketError,
  SupervisorStoppedError,
} from './errors.js'
export type { CutoverResult, ProcessInfo, SocketInfo, SupervisorEvent } from './events.js'
export { type PlainData, SUPERVISOR_ENV } from './protocol.js'
export type { PortSpec } from './sockets.js'
export { runSupervisor, type Supervisor, type SupervisorOptions } from './supervisor.js'
