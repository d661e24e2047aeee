export {
  COMPLETED_STATS,
  DEGRADED_STATS,
  type FakeFleet,
  fakeFleet,
  type MachineBehaviour,
} from './fakeFleet.js'
export { notice, notifierSuite, until } from './notifierSuite.js'
export { type S3rverOptions, type S3rverServer, type S3rverStats, s3rverEnv, startS3rver } from './s3rver.js'
export {
  freePort,
  type MessageServer,
  type ServerAvailability,
  type ServerKind,
  serverAvailability,
  serverBinary,
  startServer,
} from './servers.js'
export { type OnCleanup, type TestDirs, testDirs } from './testDirs.js'
