/** The same demo on S3 storage: a real S3-compatible server (s3rver) on loopback instead of a directory. */
import { type S3rverServer, s3rverEnv, startS3rver } from '@relup/testkit'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { describeRun, getJson, increment, Workspace } from './helpers.js'

let s3: S3rverServer
let work: Workspace

beforeAll(async () => {
  s3 = await startS3rver()
  await s3.createBucket('relup-demo')
})
afterAll(async () => {
  await s3?.stop()
})
beforeEach(async () => {
  work = await Workspace.create()
})
afterEach(async () => {
  await work.cleanUp()
})

describe('the demo on S3', () => {
  it('is hot-upgraded through an S3 bucket (RELUP_STORAGE=s3://bucket/prefix and the AWS_* variables)', async () => {
    const env = { ...s3rverEnv(s3, 'relup-demo'), RELUP_STORAGE: 's3://relup-demo/team-a' }
    const server = await work.startServer('m-s3', { env })
    expect(server.ready.version).toBe('v1')
    await increment(server)
    await increment(server)

    const published = await work.publish('v2', { storage: 's3://relup-demo/team-a', env })
    expect(published.code, describeRun(published)).toBe(0)
    expect(published.json.artifact.key).toMatch(/^relup\/demo\/artifacts\/v2-/)
    expect((await getJson(server, '/api/hello')).body).toEqual({ hello: 'from v2' })
    expect((await getJson(server, '/api/counter')).body).toEqual({ count: 2, version: 'v2' })
  })
})
