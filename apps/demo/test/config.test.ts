import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigurationError, readConfig } from '../src/config.js'
import { hotDir, localStateDir } from '../src/paths.js'

describe('readConfig', () => {
  it('has defaults that need no setup: port 3000, fs storage and state under .relup-demo, v1 as the base', () => {
    const config = readConfig({})
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      storage: `file://${join(localStateDir, 'storage')}`,
      app: 'demo',
      baseRef: 'demo-image-1',
      region: undefined,
      pollInterval: 1000,
      hotDir: hotDir('v1'),
      baseVersion: 'v1',
    })
    expect(config.machineId).toMatch(new RegExp(`-${process.pid}$`))
    expect(config.stateDir).toBe(join(localStateDir, 'state', config.machineId))
    expect(config.stateIsPerProcess).toBe(true)
    expect(readConfig({ RELUP_MACHINE_ID: 'web-1' }).stateIsPerProcess).toBe(false)
  })

  it('resolves relative paths against the directory the command was typed in (INIT_CWD under pnpm)', () => {
    const config = readConfig({
      INIT_CWD: '/home/me/relup',
      RELUP_STORAGE: 'file://.relup-demo/storage',
      RELUP_STATE_DIR: 'state/m1',
      RELUP_HOT_DIR: 'apps/demo/hot/v2',
    })
    expect(config.storage).toBe('file:///home/me/relup/.relup-demo/storage')
    expect(config.stateDir).toBe('/home/me/relup/state/m1')
    expect([config.hotDir, config.baseVersion]).toEqual(['/home/me/relup/apps/demo/hot/v2', 'v2'])
    expect(readConfig({ RELUP_STORAGE: 's3://bucket/prefix' }).storage).toBe('s3://bucket/prefix')
  })

  it.each([
    ['PORT', 'http'],
    ['PORT', '70000'],
    ['RELUP_POLL_INTERVAL', '0'],
    ['RELUP_POLL_INTERVAL', '1.5'],
    ['RELUP_LOG_LEVEL', 'loud'],
  ])('refuses %s=%s with a message that names it', (name, value) => {
    expect(() => readConfig({ [name]: value })).toThrow(ConfigurationError)
    expect(() => readConfig({ [name]: value })).toThrow(name)
  })
})
