export type { ProcessExit, Release } from './appProcess.js'
export type { RestartDelay } from './backoff.js'
export {
  type ColdFollower,
  type FollowOptions,
  followColdReleases,
  openColdNotifier,
  SAFETY_NET_POLL_MS,
} from './coldFollower.js'
export {
  bootRelease,
  ColdArtifactMissingError,
  type ColdReleaseSource,
  obtainRelease,
  readColdPointer,
  UNHEALTHY_CODE,
  WITHDRAWN_CODE,
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
export { type CutoverOptions, runSupervisor, type Supervisor, type SupervisorOptions } from './supervisor.js'
