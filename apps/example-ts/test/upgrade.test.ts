import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type CliRun, exampleDir, getJson, postJson, Workspace } from './helpers.js'

const hotV2 = join(exampleDir, 'hot-v2')
const describeRun = (run: CliRun) => `exit ${run.code}\n${run.stdout}\n${run.stderr}`

/** The 1-based line of `hot/<file>` that contains `text`. */
function lineOf(file: string, text: string): number {
  const lines = readFileSync(join(exampleDir, 'hot', file), 'utf8').split('\n')
  const index = lines.findIndex((line) => line.includes(text))
  if (index === -1) throw new Error(`${text} is not in hot/${file}`)
  return index + 1
}

let work: Workspace
beforeEach(async () => {
  work = await Workspace.create()
})
afterEach(async () => {
  await work.cleanUp()
})

describe('the TypeScript ESM example (Express 5 + ws)', () => {
  it('publishes v2 while HTTP, WebSocket and long-poll clients are served: no failed request, the socket kept, the state migrated, the new route there', async () => {
    const server = await work.startServer('m-upgrade')
    expect(server.version).toBe('base')
    const alice = await work.connect(server)
    expect(await alice.waitFor((f) => f.type === 'welcome')).toEqual({ type: 'welcome', version: 'base' })
    alice.send({ type: 'join', room: 'lobby', name: 'alice' })
    expect(await alice.waitFor((f) => f.type === 'joined')).toMatchObject({ room: 'lobby', members: 1 })
    for (const text of ['one', 'two', 'three']) alice.send({ type: 'say', text })
    const three = await alice.waitFor((f) => f.type === 'message' && f.message.text === 'three')
    expect(three).toEqual({
      type: 'message',
      message: expect.objectContaining({ from: 'alice', room: 'lobby' }),
    })
    const four = await postJson(server, '/api/rooms/lobby/messages', { name: 'bob', text: 'four' })
    expect(four.status).toBe(201)
    await alice.waitFor((f) => f.type === 'message' && f.message.text === 'four')
    // Not a route of v1.
    expect(await getJson(server, '/api/rooms')).toEqual({
      status: 404,
      body: { error: 'no route GET /api/rooms' },
    })
    const before = (await getJson(server, '/api/stats')).body

    // A long poll for the room's next message stays pending through the upgrade.
    const longPoll = getJson(server, `/api/rooms/lobby/next?after=${four.body.id}&timeout=20000`).catch(
      (error: Error) => ({ status: 0, body: error.message }),
    )
    const traffic = work.startTraffic(server, 'lobby')
    const published = await work.publish(hotV2, 'v2')
    expect(published.code, describeRun(published)).toBe(0)
    // Keep the load on until v2 has answered it too.
    await expect.poll(() => traffic.report.versions.at(-1)).toBe('v2')
    const load = await traffic.stop()

    expect(published.json.machines).toEqual([
      expect.objectContaining({ machineId: 'm-upgrade', status: 'completed', unitNames: ['chat'] }),
    ])
    // metrics.ts did not change: it was not evaluated again, so its counters went on.
    expect(published.json.machines[0].moduleNames).toEqual(['chat.ts', 'routes.ts', 'types.ts'])
    expect(load.failures).toEqual([])
    expect(load.requests).toBeGreaterThan(50)
    expect(load.versions).toEqual(['base', 'v2'])

    // The same socket, never reconnected, now served by v2 (its frames say `roomTotal`), and the
    // room's count survived the migration of the unit's state: 4 before, this is the 5th.
    alice.send({ type: 'say', text: 'five' })
    const five = await alice.waitFor((f) => f.type === 'message' && f.message.text === 'five')
    expect(five).toMatchObject({ roomTotal: 5, message: { from: 'alice', id: four.body.id + 1 } })
    expect(alice.closed).toBe(false)
    expect(alice.frames.filter((f) => f.type === 'welcome')).toHaveLength(1)

    // The long poll, which v1 started, was ended by v1's dispose and asked v2 again.
    expect(await longPoll).toEqual({
      status: 200,
      body: { kind: 'message', message: expect.objectContaining({ text: 'five' }) },
    })
    // v2's new route, and v1's state in v2's shape.
    expect((await getJson(server, '/api/rooms')).body).toEqual([{ room: 'lobby', members: 1, messages: 5 }])
    const lobby = (await getJson(server, '/api/rooms/lobby')).body
    expect(lobby.recent.map((m: { text: string }) => m.text)).toEqual(['one', 'two', 'three', 'four', 'five'])
    const after = (await getJson(server, '/api/stats')).body
    expect(after).toMatchObject({ version: 'v2', connections: 1 })
    expect(after.requestsServed).toBeGreaterThan(before.requestsServed + load.requests)

    const late = await work.connect(server)
    expect(await late.waitFor((f) => f.type === 'welcome')).toEqual({ type: 'welcome', version: 'v2' })
  })

  it('reports an error thrown in hot TypeScript at its .ts file and line; v2 fixes the route', async () => {
    const server = await work.startServer('m-trace')
    expect((await postJson(server, '/api/rooms/lobby/messages', { name: 'bob', text: 'hi' })).status).toBe(
      201,
    )
    expect((await getJson(server, '/api/rooms/lobby?tz=Europe/Paris')).status).toBe(200)

    const crash = await getJson(server, '/api/rooms/lobby?tz=Mars/Olympus')
    expect(crash).toEqual({ status: 500, body: { error: 'internal error' } })
    const line = lineOf('routes.ts', 'new Intl.DateTimeFormat')
    const handlerLine = lineOf('routes.ts', 'withLocalTime(room.recent')
    await expect.poll(() => server.log()).toContain('RangeError: Invalid time zone specified: Mars/Olympus')
    expect(server.log()).toMatch(new RegExp(`at withLocalTime \\(routes\\.ts:${line}:\\d+\\)`))
    expect(server.log()).toMatch(new RegExp(`at routes\\.ts:${handlerLine}:\\d+`))
    expect(server.log()).not.toMatch(/routes\.js/)

    const published = await work.publish(hotV2, 'v2')
    expect(published.code, describeRun(published)).toBe(0)
    expect(await getJson(server, '/api/rooms/lobby?tz=Mars/Olympus')).toEqual({
      status: 400,
      body: { error: 'unknown time zone Mars/Olympus: use an IANA name such as Europe/Paris' },
    })
  })
})
