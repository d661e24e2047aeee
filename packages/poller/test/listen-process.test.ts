// Item 12: a server whose listen() fails after the runtime started must not leave a machine that
// looks alive (publishers would wait for it): it stops the runtime, so its record says
// `stoppedAt`, then exits non-zero, with the pattern the README gives (the demo server itself is
// tested in apps/demo).
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { onCleanup, tempDir } from './helpers.js'
import { fixture, machineRecord, processBackends, runNode } from './processes.js'

async function portInUse(): Promise<number> {
  const server: Server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  onCleanup(() => new Promise((done) => server.close(done)))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

describe.each(processBackends)('a server that cannot listen, on %s storage', (_name, backend) => {
  it('stops the runtime (the record says stoppedAt) and exits non-zero, as the README shows', {
    timeout: 20_000,
  }, async () => {
    const { storage, env } = await backend()
    const port = await portInUse()
    const run = runNode(fixture('listen.mjs'), {
      ...env,
      PORT: String(port),
      RELUP_TEST_STATE_DIR: join(await tempDir('state'), 'm1'),
    })
    expect((await run.exited).code).toBe(1)
    expect(run.stderr()).toMatch(/cannot listen on port \d+: listen EADDRINUSE/)
    expect((await machineRecord(storage, 'm1'))?.stoppedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
  })
})
