/**
 * Old versions must be garbage-collectable once nothing references them. Observed with a
 * FinalizationRegistry; needs `--expose-gc` (set for this package in vitest.config.ts).
 */
import { describe, expect, it } from 'vitest'
import { createSwapEngine, type SwapEngine } from '../src/index.js'
import { deferred, useReleases } from './helpers.js'

const { release } = useReleases()

const gc = (globalThis as { gc?: () => void }).gc

/** A module and a unit, both holding a sizeable payload so a leak would be noticeable too. */
const version = (name: string, leak = false) => ({
  'lib.js': `
    const payload = new Array(50_000).fill(${JSON.stringify(name)})
    exports.self = () => module.exports
    exports.size = () => payload.length`,
  'counter.js': `
    exports.units = { counter: {
      init: () => ({ count: 0 }),
      create: (ctx) => {
        const api = {
          payload: new Array(50_000).fill(${JSON.stringify(name)}),
          inc() { return ${JSON.stringify(name)} + ':' + ++ctx.state.count },
          self() { return this },
          async slow() { await ctx.deps.promise; return ${JSON.stringify(name)} + ':slow' },
        }
        ${leak ? `process.on('relup-gc-leak', () => api)` : ''}
        return api
      } } }`,
})

/**
 * The same as ES modules and TypeScript, evaluated through the transform (and its cache), with
 * source maps registered for stack traces, an interval and a process listener started at top level
 * (cleared with the version), and a live binding read across modules.
 */
const esmVersion = (name: string) => ({
  'package.json': '{"type":"module"}',
  'lib.ts': `
    import * as self from './lib.ts'
    const payload: string[] = new Array(50_000).fill(${JSON.stringify(name)})
    export let ticks: number = 0
    setInterval(() => { ticks += 1 }, 1)
    process.on('relup-gc-esm', () => payload.length)
    export const exportsOf = () => self
    export const size = (): number => payload.length`,
  'counter.mts': `
    import { ticks } from './lib.ts'
    interface State { count: number }
    export const units = { counter: {
      init: (): State => ({ count: 0 }),
      create: (ctx: { state: State; deps: { promise: Promise<void> } }) => ({
        payload: new Array(50_000).fill(${JSON.stringify(name)}),
        inc: () => ${JSON.stringify(name)} + ':' + ++ctx.state.count + (ticks >= 0 ? '' : '?'),
        self() { return this },
        async slow() { await ctx.deps.promise; return ${JSON.stringify(name)} + ':slow' },
      }) } }`,
})

/** Collect until every tag is finalized or the rounds run out; returns what was collected. */
async function collect(collected: Set<string>, tags: string[], rounds = 20): Promise<Set<string>> {
  for (let round = 0; round < rounds && !tags.every((tag) => collected.has(tag)); round++) {
    gc!()
    await new Promise((resolve) => setTimeout(resolve, 0))
  }
  return collected
}

/** Register v1's exports and unit instance. A separate function, so the test keeps no reference. */
async function watchV1(engine: SwapEngine<any>, registry: FinalizationRegistry<string>): Promise<void> {
  registry.register(engine.module('lib.js').self(), 'exports@v1')
  registry.register(await engine.unit('counter').self(), 'unit@v1')
}

async function watchEsmV1(engine: SwapEngine<any>, registry: FinalizationRegistry<string>): Promise<void> {
  registry.register(engine.module('lib.ts').exportsOf(), 'exports@v1')
  registry.register(await engine.unit('counter').self(), 'unit@v1')
}

describe('garbage collection of old versions', () => {
  it('runs where gc() is exposed (node --expose-gc), or these checks would prove nothing', () => {
    expect(gc).toBeTypeOf('function')
  })

  it('collects v1 module exports and unit instances after v1 → v2 → v3', async () => {
    const collected = new Set<string>()
    const registry = new FinalizationRegistry<string>((tag) => collected.add(tag))
    const hold = deferred()
    const v1 = await release('v1', version('v1'))
    const v2 = await release('v2', version('v2'))
    const v3 = await release('v3', version('v3'))
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', deps: hold })
    await watchV1(engine, registry)
    const counter = engine.unit('counter')
    await counter.inc()

    // A call in flight on v1 during the upgrade finishes on v1's code, then lets go of it.
    const slow = counter.slow()
    const upgraded = engine.upgrade(v2, { version: 'v2' })
    hold.resolve()
    expect(await slow).toBe('v1:slow')
    await upgraded
    await engine.upgrade(v3, { version: 'v3' })
    expect(await counter.inc()).toBe('v3:2')

    await collect(collected, ['exports@v1', 'unit@v1'])
    expect([...collected].sort()).toEqual(['exports@v1', 'unit@v1'])
    await engine.close()
  })

  it('collects v1 of an ES module + TypeScript release (top-level interval and listener included) after v1 → v2 → v3', async () => {
    const collected = new Set<string>()
    const registry = new FinalizationRegistry<string>((tag) => collected.add(tag))
    const hold = deferred()
    const v1 = await release('v1', esmVersion('v1'))
    const v2 = await release('v2', esmVersion('v2'))
    const v3 = await release('v3', esmVersion('v3'))
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1', deps: hold })
    await watchEsmV1(engine, registry)
    const counter = engine.unit('counter')
    await counter.inc()
    const slow = counter.slow()
    const upgraded = engine.upgrade(v2, { version: 'v2' })
    hold.resolve()
    expect(await slow).toBe('v1:slow')
    await upgraded
    await engine.upgrade(v3, { version: 'v3' })
    expect(await counter.inc()).toBe('v3:2')
    expect(process.listenerCount('relup-gc-esm')).toBe(1)

    await collect(collected, ['exports@v1', 'unit@v1'])
    expect([...collected].sort()).toEqual(['exports@v1', 'unit@v1'])
    await engine.close()
  })

  it('negative control: a unit that leaks a process listener keeps its version alive, and the check says so', async () => {
    const collected = new Set<string>()
    const registry = new FinalizationRegistry<string>((tag) => collected.add(tag))
    const v1 = await release('v1', version('v1', true))
    const v2 = await release('v2', version('v2'))
    const v3 = await release('v3', version('v3'))
    const engine = await createSwapEngine({ releaseDir: v1, version: 'v1' })
    await watchV1(engine, registry)
    await engine.upgrade(v2, { version: 'v2' })
    await engine.upgrade(v3, { version: 'v3' })

    await collect(collected, ['exports@v1', 'unit@v1'])
    // The module exports are collectable; the leaked instance is not.
    expect(collected.has('exports@v1')).toBe(true)
    expect(collected.has('unit@v1')).toBe(false)

    // Removing the leak is enough for it to go: the listener was the only thing holding it.
    process.removeAllListeners('relup-gc-leak')
    await collect(collected, ['unit@v1'])
    expect(collected.has('unit@v1')).toBe(true)
    await engine.close()
  })
})
