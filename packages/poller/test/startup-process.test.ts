// Item 1 of "a fleet that always recovers": a machine started while storage is unreachable, in a
// real process where nothing else keeps the event loop alive (no server listens yet). Startup
// retries for `startupTimeout`, then boots and says why; it never ends the process early.
import { join } from 'node:path'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { tempDir } from './helpers.js'
import { fixture, runNode } from './processes.js'

const STARTUP_TIMEOUT_MS = 1500

const unreachable: [string, () => Promise<NodeJS.ProcessEnv>][] = [
  // Every call fails, as a lost network mount does.
  ['fs', async () => ({ RELUP_TEST_STORAGE: `fs-down:${await tempDir('storage')}` })],
  [
    'a stopped s3rver',
    async () => {
      const server = await startS3rver()
      await server.stop() // its port is closed now: connections are refused
      return { RELUP_TEST_STORAGE: 's3', ...s3rverEnv(server, 'fleet') }
    },
  ],
]

describe.each(unreachable)(
  'startup with unreachable storage (%s), in a real process',
  (_name, storageEnv) => {
    it('`await startRelup()` resolves after startupTimeout and the script goes on; it does not exit before', async () => {
      const env = {
        ...(await storageEnv()),
        RELUP_TEST_STATE_DIR: join(await tempDir('state'), 'm1'),
        RELUP_TEST_STARTUP_TIMEOUT: String(STARTUP_TIMEOUT_MS),
      }
      const started = Date.now()
      const run = runNode(fixture('boot.mjs'), env)
      const exit = await run.exited
      const elapsed = Date.now() - started

      expect(run.stdout(), run.stderr()).toBe('booted\n')
      expect(elapsed).toBeGreaterThanOrEqual(STARTUP_TIMEOUT_MS)
      // Said, not silent: why startup could not finish, and what it runs instead.
      expect(run.stderr()).toMatch(
        /relup: the startup replay could not finish \(storage did not answer\); booting on the base code; polls finish it once the pointer can be read/,
      )
      // Then the script is over and nothing else holds the event loop (no server was started): a
      // normal end. A server started after startRelup() keeps it alive, and the polls finish the startup.
      expect(exit).toEqual({ code: 0, signal: null })
    })
  },
)
