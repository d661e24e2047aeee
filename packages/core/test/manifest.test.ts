import { describe, expect, it } from 'vitest'
import { diffManifests, manifestDigest, manifestMismatches, summarizeMismatches } from '../src/index.js'
import { manifest } from './fixtures.js'

describe('diffManifests', () => {
  it('sorts files into added, changed, removed and unchanged', () => {
    const before = manifest({ 'a.js': 'a', 'b.js': 'b', 'c.js': 'c', 'lib/d.js': 'd' })
    const after = manifest({ 'a.js': 'a', 'b.js': 'e', 'lib/d.js': 'd', 'new.js': 'f' })
    expect(diffManifests(before, after)).toEqual({
      added: ['new.js'],
      changed: ['b.js'],
      removed: ['c.js'],
      unchanged: ['a.js', 'lib/d.js'],
      nativeAddonsChanged: false,
      changedNativeAddons: [],
    })
  })

  it('a size change with the same hash still counts as changed', () => {
    const before = manifest({ 'a.js': 'a' })
    const after = { ...manifest({ 'a.js': 'a' }), files: { 'a.js': { sha256: 'a'.repeat(64), size: 11 } } }
    expect(diffManifests(before, after).changed).toEqual(['a.js'])
  })

  it.each([
    ['added', manifest({ 'a.js': 'a' }), manifest({ 'a.js': 'a', 'native/x.node': 'n' }, ['native/x.node'])],
    ['changed', manifest({ 'x.node': 'n' }, ['x.node']), manifest({ 'x.node': 'm' }, ['x.node'])],
    ['removed', manifest({ 'a.js': 'a', 'x.node': 'n' }, ['x.node']), manifest({ 'a.js': 'a' })],
  ])('flags a native addon that was %s', (_how, before, after) => {
    const diff = diffManifests(before, after)
    expect(diff.nativeAddonsChanged).toBe(true)
    expect(diff.changedNativeAddons).toEqual([expect.stringMatching(/x\.node$/)])
  })

  it('an unchanged native addon next to changed JavaScript is fine', () => {
    const diff = diffManifests(
      manifest({ 'a.js': 'a', 'x.node': 'n' }, ['x.node']),
      manifest({ 'a.js': 'b', 'x.node': 'n' }, ['x.node']),
    )
    expect(diff.nativeAddonsChanged).toBe(false)
    expect(diff.changed).toEqual(['a.js'])
  })
})

describe('manifestMismatches', () => {
  it('is empty when the files are the published ones', () => {
    const published = manifest({ 'a.js': 'a', 'lib/b.js': 'b' })
    expect(manifestMismatches(published, manifest({ 'lib/b.js': 'b', 'a.js': 'a' }))).toEqual([])
  })

  it('names each missing, changed and extra file, and a different addon list', () => {
    const published = manifest({ 'a.js': 'a', 'b.js': 'b', 'x.node': 'x' }, ['x.node'])
    const onDisk = manifest({ 'a.js': 'c', 'x.node': 'x', 'extra.js': 'e' })
    expect(manifestMismatches(published, onDisk)).toEqual([
      '"b.js" is missing',
      '"a.js" has sha256 cccccccccccc…, expected aaaaaaaaaaaa…',
      '"extra.js" is not in the manifest',
      'the native addons listed differ ([x.node] → [])',
    ])
  })

  it('summarizes long lists', () => {
    const problems = Array.from({ length: 7 }, (_, i) => `p${i}`)
    expect(summarizeMismatches(problems)).toBe('p0; p1; p2; p3; p4; and 2 more')
  })
})

describe('manifestDigest', () => {
  it('is the same for the same files in any order, and differs when a file does', () => {
    const a = manifest({ 'a.js': 'a', 'b.js': 'b' })
    const reordered = { ...a, files: { 'b.js': a.files['b.js']!, 'a.js': a.files['a.js']! } }
    expect(manifestDigest(a)).toMatch(/^[0-9a-f]{16}$/)
    expect(manifestDigest(reordered)).toBe(manifestDigest(a))
    expect(manifestDigest(manifest({ 'a.js': 'a', 'b.js': 'c' }))).not.toBe(manifestDigest(a))
  })
})
