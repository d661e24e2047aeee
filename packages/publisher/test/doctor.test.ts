import { type Storage, UnsupportedCapabilityError } from '@relup/core'
import { memoryStorage } from '@relup/storage-memory'
import { s3Storage } from '@relup/storage-s3'
import { s3rverEnv, startS3rver } from '@relup/testkit'
import { describe, expect, it } from 'vitest'
import { runDoctor, storageReady } from '../src/index.js'

describe('runDoctor', () => {
  it('finds an honest store ready, and cleans up after itself', async () => {
    const storage = memoryStorage()
    const probes = await runDoctor(storage)
    expect(probes.map((p) => [p.name, p.verdict])).toEqual([
      ['read after write', 'ok'],
      ['conditional GET (304)', 'ok'],
      ['create-only (If-None-Match: *)', 'ok'],
      ['compare-and-swap (If-Match)', 'ok'],
      ['conditional delete (If-Match)', 'ok'],
      ['list after write', 'ok'],
    ])
    expect(storageReady(probes)).toBe(true)
    expect(storage.size).toBe(0)
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
    expect(storageReady(probes)).toBe(false)
    expect(inner.size).toBe(0)
  })

  it('reports a capability the adapter declares unsupported as missing, not broken', async () => {
    const inner = memoryStorage()
    const noConditionalDelete: Storage = {
      ...inner,
      capabilities: { ...inner.capabilities, conditionalDelete: false },
      delete: (key, options) => {
        if (options?.ifMatch) throw new UnsupportedCapabilityError(inner.name, 'conditionalDelete')
        return inner.delete(key)
      },
    }
    const probes = await runDoctor(noConditionalDelete)
    const conditionalDelete = probes.find((p) => p.name === 'conditional delete (If-Match)')
    expect(conditionalDelete?.verdict).toBe('missing')
    // What it means for relup, not the adapter's own advice to run the doctor being run.
    expect(conditionalDelete?.detail).toMatch(
      /^declared unsupported by memory.*: optional: a publisher checks the lock/,
    )
    expect(conditionalDelete?.detail).not.toMatch(/relup doctor/)
    // Conditional delete is optional: the lock falls back to checking its token.
    expect(storageReady(probes)).toBe(true)
  })

  it('probes a real S3-compatible server: ready when it enforces conditional writes, broken when it ignores them', async () => {
    for (const enforce of [true, false]) {
      const server = await startS3rver({ enforceConditionalWrites: enforce })
      try {
        await server.createBucket('doctor')
        const storage = s3Storage({ bucket: 'doctor', env: s3rverEnv(server, 'doctor') })
        const probes = await runDoctor(storage)
        await storage.close?.()
        expect(probes.find((p) => p.name.startsWith('create-only'))?.verdict).toBe(enforce ? 'ok' : 'BROKEN')
        expect(probes.find((p) => p.name === 'conditional GET (304)')?.verdict).toBe('ok')
        expect(storageReady(probes)).toBe(enforce)
      } finally {
        await server.stop()
      }
    }
  }, 60_000)
})
