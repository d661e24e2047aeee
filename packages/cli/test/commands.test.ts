import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Storage } from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { s3Storage } from '@relup/storage-s3'
import { startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { openStorage, runDoctor } from '../src/index.js'
import {
  APP,
  announceMachine,
  bootPointer,
  cli,
  freshMemoryUrl,
  hotDir,
  pointerOf,
  simulateMachines,
  tempDir,
} from './helpers.js'

describe('relup (no command, help, errors)', () => {
  it('prints the command list and exits 2 without a command; --help exits 0', async () => {
    const none = await cli([])
    expect(none.code).toBe(2)
    expect(none.stdout).toMatch(
      /Commands:[\s\S]*publish[\s\S]*status[\s\S]*rollback[\s\S]*unlock[\s\S]*pack[\s\S]*doctor/,
    )
    expect((await cli(['--help'])).code).toBe(0)
  })

  it.each(['publish', 'status', 'rollback', 'unlock', 'pack', 'doctor', 'keygen'])(
    '%s --help explains it',
    async (command) => {
      const result = await cli([command, '--help'])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`relup ${command}`)
    },
  )

  it('an unknown command or flag, or a missing --app, is a usage error (exit 2) that says what to do', async () => {
    const unknown = await cli(['publsh'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown command "publsh"; run `relup --help`/)
    const flag = await cli(['status', '--app', 'x', '--colour'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/--colour.*see --help/)
    const app = await cli(['status', '--storage', freshMemoryUrl()])
    expect(app.code).toBe(2)
    expect(app.stderr).toMatch(/--app <name> is required \(or set RELUP_APP\)/)
    const storage = await cli(['status', '--app', 'x', '--storage', 'ftp://nope'])
    expect(storage.code).toBe(2)
    expect(storage.stderr).toMatch(/unknown storage URL.*file:\/\/<dir>, s3:\/\/<bucket>/)
  })

  it('--json errors are JSON too', async () => {
    const result = await cli(['status', '--json', '--storage', freshMemoryUrl()])
    expect(result.code).toBe(2)
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: expect.stringMatching(/--app/) })
  })
})

describe('relup status', () => {
  it('shows the pointer and flags machines that are behind or failed', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'm-ok')
    await announceMachine(storage, 'm-behind')
    await announceMachine(storage, 'm-old', 'image-0')
    simulateMachines(storage, { 'm-ok': 'complete', 'm-behind': 'silent' })
    const published = await cli([
      'publish',
      await hotDir('v2'),
      '--app',
      APP,
      '--storage',
      url,
      '--version',
      'v2',
      '--no-wait',
    ])
    expect(published.code).toBe(0)
    const hot = (await pointerOf(storage)).hot!
    // m-ok reports that it runs v2.
    await announceMachine(storage, 'm-ok', 'image-1', {
      version: 'v2',
      upgradeId: hot.upgradeId,
      hotRef: hot.sourceRef,
    })
    const human = await cli(['status', '--app', APP, '--storage', url])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/hot\s+v2 · upgrade [0-9A-Z]{26} · published .* by /)
    expect(human.stdout).toMatch(/m-ok\s+ams\s+v2\s+[0-9a-f]{12}.*ok/)
    expect(human.stdout).toMatch(/m-behind\s+ams\s+base.*<< BEHIND/)
    expect(human.stdout).toMatch(/m-old.*<< OLDER BASE/)
    expect(human.stdout).toMatch(/1 machine\(s\) behind or failed/)
    const json = JSON.parse((await cli(['status', '--app', APP, '--storage', url, '--json'])).stdout)
    expect(json.pointer.hot.version).toBe('v2')
    expect(
      Object.fromEntries(
        json.machines.map((m: { machineId: string; state: string }) => [m.machineId, m.state]),
      ),
    ).toEqual({
      'm-behind': 'behind',
      'm-ok': 'current',
      'm-old': 'older base',
    })
  })

  it('says so when nothing booted yet', async () => {
    const result = await cli(['status', '--app', APP, '--storage', freshMemoryUrl()])
    expect(result.stdout).toMatch(/no pointer yet/)
  })
})

describe('relup rollback', () => {
  it('points back at the previous version under a new upgrade id, or at --to', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    for (const v of ['v1', 'v2', 'v3']) {
      expect(
        (await cli(['publish', await hotDir(v), '--app', APP, '--storage', url, '--version', v, '--no-wait']))
          .code,
      ).toBe(0)
    }
    const v3 = (await pointerOf(storage)).hot!
    const back = await cli(['rollback', '--app', APP, '--storage', url, '--no-wait'])
    expect(back.code, back.stderr).toBe(0)
    expect(back.stdout).toMatch(/rolled back to v2/)
    const v2 = (await pointerOf(storage)).hot!
    expect(v2.version).toBe('v2')
    expect(v2.upgradeId).not.toBe(v3.upgradeId)
    const to = await cli(['rollback', '--app', APP, '--storage', url, '--to', 'v1', '--no-wait'])
    expect(to.code).toBe(0)
    expect((await pointerOf(storage)).hot?.version).toBe('v1')
    const unknown = await cli(['rollback', '--app', APP, '--storage', url, '--to', 'v9'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/no published version v9 .*known versions: v1, v2, v3/)
  })

  it('waits for the machines like publish does', async () => {
    const url = freshMemoryUrl()
    const storage = openStorage(url)
    await bootPointer(storage)
    await announceMachine(storage, 'm1')
    simulateMachines(storage, { m1: 'complete' })
    for (const v of ['v1', 'v2']) {
      expect(
        (
          await cli([
            'publish',
            await hotDir(v),
            '--app',
            APP,
            '--storage',
            url,
            '--version',
            v,
            '--timeout',
            '5s',
          ])
        ).code,
      ).toBe(0)
    }
    const back = await cli(['rollback', '--app', APP, '--storage', url, '--timeout', '5s'])
    expect(back.code).toBe(0)
    expect(back.stdout).toMatch(/m1\s+ams\s+completed/)
  })

  it('with nothing published says there is nothing to roll back', async () => {
    const url = freshMemoryUrl()
    await bootPointer(openStorage(url))
    const result = await cli(['rollback', '--app', APP, '--storage', url])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/runs no hot upgrade: there is nothing to roll back/)
  })
})

describe('relup pack', () => {
  it('writes a deterministic artifact and its manifest', async () => {
    const dir = await hotDir('v1', { 'lib/util.js': 'exports.x = 1\n' })
    const out = await tempDir('pack')
    const first = JSON.parse((await cli(['pack', dir, '--out', join(out, 'a.tgz'), '--json'])).stdout)
    const second = JSON.parse((await cli(['pack', dir, '--out', join(out, 'b.tgz'), '--json'])).stdout)
    expect(first.sha256).toBe(second.sha256)
    expect(first.files).toBe(2)
    const manifest = JSON.parse(await readFile(join(out, 'a.manifest.json'), 'utf8'))
    expect(Object.keys(manifest.files).sort()).toEqual(['handler.js', 'lib/util.js'])
  })
})

describe('relup doctor', () => {
  it('an honest store is ready', async () => {
    const result = await cli(['doctor', '--storage', freshMemoryUrl()])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/create-only \(If-None-Match: \*\) \*\s+ok/)
    expect(result.stdout).toMatch(/ready for relup/)
  })

  it('catches a store that silently ignores create-only and compare-and-swap', async () => {
    const inner = memoryStorage()
    const liar: Storage = { ...inner, put: (key, body) => inner.put(key, body) }
    const probes = await runDoctor(liar)
    const byName = Object.fromEntries(probes.map((p) => [p.name, p]))
    expect(byName['create-only (If-None-Match: *)']).toMatchObject({
      verdict: 'BROKEN',
      detail: expect.stringMatching(/IGNORED/),
    })
    expect(byName['compare-and-swap (If-Match)']).toMatchObject({ verdict: 'BROKEN' })
    expect(byName['read after write']?.verdict).toBe('ok')
    expect(inner.size).toBe(0)
  })

  it('probes a real S3-compatible server: ready when it enforces conditional writes, broken when it ignores them', async () => {
    for (const enforce of [true, false]) {
      const server = await startS3rver({ enforceConditionalWrites: enforce })
      try {
        await server.createBucket('doctor')
        const env = {
          AWS_ENDPOINT_URL_S3: server.endpoint,
          AWS_REGION: server.region,
          AWS_ACCESS_KEY_ID: server.accessKeyId,
          AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
        }
        const storage = s3Storage({ bucket: 'doctor', env })
        const probes = await runDoctor(storage)
        await storage.close?.()
        const createOnly = probes.find((p) => p.name.startsWith('create-only'))
        expect(createOnly?.verdict).toBe(enforce ? 'ok' : 'BROKEN')
        expect(probes.find((p) => p.name === 'conditional GET (304)')?.verdict).toBe('ok')
      } finally {
        await server.stop()
      }
    }
  }, 60_000)
})
