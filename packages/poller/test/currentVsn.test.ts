// Module-level currentVsn() with several runtimes in one process: by app, never the wrong one.
import { memoryStorage } from '@relup/storage-memory'
import { describe, expect, it } from 'vitest'
import { AmbiguousVersionError, currentVsn } from '../src/index.js'
import { startMachine, tempDir, writeRelease } from './helpers.js'

async function machine(app: string, baseRef: string) {
  return startMachine(memoryStorage(), { app, baseRef, baseDir: await writeRelease(await tempDir(), 'base') })
}

describe('currentVsn()', () => {
  it('returns the one started runtime, and null once it stopped', async () => {
    const shop = await machine('shop', 'image-1')
    expect(currentVsn()).toEqual(shop.relup.currentVsn())
    expect(currentVsn('shop')).toEqual(shop.relup.currentVsn())
    expect(currentVsn('chat')).toBeNull()
    await shop.relup.stop()
    expect(currentVsn()).toBeNull()
  })

  it('with runtimes of several apps, picks by app name and refuses to guess without one', async () => {
    const shop = await machine('shop', 'image-1')
    const chat = await machine('chat', 'image-7')
    expect(currentVsn('shop')).toMatchObject({ baseRef: 'image-1' })
    expect(currentVsn('shop')).toEqual(shop.relup.currentVsn())
    expect(currentVsn('chat')).toEqual(chat.relup.currentVsn())
    expect(() => currentVsn()).toThrow(AmbiguousVersionError)
    expect(() => currentVsn()).toThrow(/currentVsn\('<app>'\)/)

    await chat.relup.stop()
    expect(currentVsn()).toEqual(shop.relup.currentVsn())
  })

  it('with two runtimes of the same app, refuses to guess even by name', async () => {
    await machine('shop', 'image-1')
    await machine('shop', 'image-2')
    expect(() => currentVsn('shop')).toThrow(
      expect.objectContaining({
        code: 'ERR_RELUP_AMBIGUOUS_VSN',
        message: expect.stringMatching(/relup\.currentVsn\(\)/),
      }),
    )
  })
})
