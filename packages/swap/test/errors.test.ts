import { describe, expect, it } from 'vitest'
import {
  createSwapEngine,
  EngineClosedError,
  HandleError,
  HotModuleError,
  NativeAddonRequireError,
  ReleaseLoadError,
  RestartRequiredError,
  UpgradeError,
} from '../src/index.js'
import { counterModule, useReleases } from './helpers.js'

const { release } = useReleases()

/** Every `code`/`…Code` a swap error class declares itself (inherited ones belong to the parent). */
function declaredCodes(): { owner: string; code: string }[] {
  const classes = [
    UpgradeError,
    RestartRequiredError,
    EngineClosedError,
    NativeAddonRequireError,
    ReleaseLoadError,
    HandleError,
    HotModuleError,
  ]
  return classes.flatMap((cls) =>
    Object.getOwnPropertyNames(cls)
      .filter((key) => /^code$|Code$/.test(key))
      .map((key) => ({
        owner: `${cls.name}.${key}`,
        code: (cls as unknown as Record<string, string>)[key]!,
      })),
  )
}

describe('error codes', () => {
  it('gives every swap error its own code, so a caller can tell them apart by code alone', () => {
    const codes = declaredCodes()
    expect(codes.length).toBeGreaterThanOrEqual(12)
    const owners = new Map<string, string[]>()
    for (const { owner, code } of codes) owners.set(code, [...(owners.get(code) ?? []), owner])
    const shared = [...owners.entries()].filter(([, list]) => list.length > 1)
    expect(shared).toEqual([])
    for (const { code } of codes) expect(code).toMatch(/^ERR_RELUP_[A-Z_]+$/)
  })

  it('a handle used after close() rejects with ERR_RELUP_HANDLE_CLOSED; upgrade() with ERR_RELUP_ENGINE_CLOSED', async () => {
    const v1 = await release('v1', {
      'counter.js': counterModule('v1'),
      'greet.js': `exports.hi = () => 'hi'`,
    })
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    const counter = engine.unit('counter')
    const greet = engine.module('greet.js')
    await engine.close()
    await expect(counter.inc()).rejects.toMatchObject({ code: 'ERR_RELUP_HANDLE_CLOSED' })
    expect(() => greet.hi()).toThrow(expect.objectContaining({ code: 'ERR_RELUP_HANDLE_CLOSED' }))
    await expect(engine.upgrade(v1)).rejects.toMatchObject({ code: 'ERR_RELUP_ENGINE_CLOSED' })
  })
})
