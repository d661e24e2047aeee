import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openStorage } from '@relup/publisher'
import { describe, expect, it } from 'vitest'
import { usage } from '../src/main.js'
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
    expect(none.stdout).toBe(`${usage()}\n`)
    expect((await cli(['--help'])).code).toBe(0)
  })

  it('`relup help <command>` prints that command’s help; --version prints the version', async () => {
    const help = await cli(['help', 'rollback'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^relup rollback --app <name>/)
    expect((await cli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+/)
  })

  it.each(['publish', 'status', 'rollback', 'repair', 'unlock', 'pack', 'doctor', 'keygen'])(
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

  it('the app and the storage can come from RELUP_APP and RELUP_STORAGE', async () => {
    const url = freshMemoryUrl()
    await bootPointer(await openStorage(url))
    const result = await cli(['status', '--json'], { RELUP_APP: APP, RELUP_STORAGE: url })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ app: APP, storage: expect.stringMatching(/^memory:/) })
  })

  it('commands that need no app or storage do not ask for them', async () => {
    const out = await tempDir('no-app')
    const result = await cli(['pack', await hotDir('v1'), '--out', join(out, 'a.tgz')])
    expect(result.code, result.stderr).toBe(0)
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
    const storage = await openStorage(url)
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
      '--allow-other-bases',
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
    // A machine behind the pointer needs attention: status exits 1, so it can gate CI.
    expect(human.code).toBe(1)
    expect(human.stdout).toMatch(/needs attention: 1 machine\(s\) behind \(exit code 1\)/)
    expect(human.stdout).toMatch(/hot\s+v2 · upgrade [0-9A-Z]{26} · published .* by /)
    expect(human.stdout).toMatch(/m-ok\s+ams\s+v2\s+[0-9a-f]{12}.*ok/)
    expect(human.stdout).toMatch(/m-behind\s+ams\s+base.*<< BEHIND/)
    expect(human.stdout).toMatch(/m-old.*<< OLDER BASE/)
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

  it('shows a machine whose last upgrade completed degraded, and flags it', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
    await bootPointer(storage)
    expect(
      (
        await cli([
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
      ).code,
    ).toBe(0)
    const hot = (await pointerOf(storage)).hot!
    const runsV2 = { version: 'v2', upgradeId: hot.upgradeId, hotRef: hot.sourceRef }
    const at = new Date().toISOString()
    await announceMachine(storage, 'm-clean', 'image-1', {
      ...runsV2,
      lastResult: { upgradeId: hot.upgradeId, version: 'v2', status: 'completed', at, error: null },
    })
    await announceMachine(storage, 'm-leaky', 'image-1', {
      ...runsV2,
      lastResult: {
        upgradeId: hot.upgradeId,
        version: 'v2',
        status: 'completed',
        at,
        error: null,
        degraded: true,
      },
    })
    const human = await cli(['status', '--app', APP, '--storage', url])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/m-clean\s+ams\s+v2\s+[0-9a-f]{12}\s+completed v2\s+\S+ ago\s+ok/)
    expect(human.stdout).toMatch(
      /m-leaky\s+ams\s+v2\s+[0-9a-f]{12}\s+completed \(degraded\) v2\s+.*<< DEGRADED/,
    )
    expect(human.stdout).toMatch(/1 machine\(s\) degraded: .*restart it when convenient/)
    expect(human.stdout).not.toMatch(/needs attention/)
    const json = JSON.parse((await cli(['status', '--app', APP, '--storage', url, '--json'])).stdout)
    const leaky = json.machines.find((m: { machineId: string }) => m.machineId === 'm-leaky')
    expect(leaky).toMatchObject({ state: 'degraded', lastResult: { degraded: true } })
  })

  it('says so when nothing booted yet', async () => {
    const result = await cli(['status', '--app', APP, '--storage', freshMemoryUrl()])
    expect(result.stdout).toMatch(/no pointer yet/)
  })
})

describe('relup rollback', () => {
  it('points back at the previous version under a new upgrade id, or at --to', async () => {
    const url = freshMemoryUrl()
    const storage = await openStorage(url)
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
    const storage = await openStorage(url)
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
    await bootPointer(await openStorage(url))
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

  it('--json gives the storage, its capabilities and every probe', async () => {
    const result = await cli(['doctor', '--storage', freshMemoryUrl(), '--json'])
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({ ok: true, capabilities: { createOnly: true, compareAndSwap: true } })
    expect(report.probes).toHaveLength(6)
  })
})
