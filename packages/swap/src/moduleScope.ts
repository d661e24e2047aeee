/**
 * What a hot module's top level starts belongs to that version of the module. Timers, intervals
 * and immediates started while its top level runs (or by the callbacks of those timers), and
 * listeners its code adds to any emitter or event target while its top level runs, are cleared
 * when the module leaves the live release (replaced or removed by an upgrade, discarded by a
 * failed one, or on `close()`); the new version's top level starts its own.
 *
 * Timers are seen through the module's own `setTimeout`/`setInterval`/… (the evaluator passes
 * them as parameters, so other code and other releases are not affected). Listeners are seen by
 * wrapping the `EventEmitter` and `EventTarget` methods only while a top level runs, counting
 * only listeners added by hot code (not by a host package it loads). An interval that the module's
 * code starts later (in a request, after an `await`) is not cleared, since its work may still be
 * in flight, but a replaced module that leaves one running is reported with the line that started it.
 */
import { EventEmitter } from 'node:events'
import { promisify } from 'node:util'
import type { TimerName } from './evaluator.js'
import { type HotFile, isHotFilename, originalPosition } from './sourceMaps.js'

type Timer = NodeJS.Timeout | NodeJS.Immediate
type Callback = (...args: unknown[]) => unknown

/** The scope whose top level (or owned timer callback) is running now. */
let owner: ModuleScope | undefined
/** How many top levels are running (nested imports), while the listener methods are wrapped. */
let depth = 0

export class ModuleScope {
  /** Timers owned by this top level; `true` for immediates. */
  private readonly owned = new Map<Timer, boolean>()
  /** Intervals the module's code started outside its top level, and where. */
  private readonly loose = new Map<NodeJS.Timeout, string>()
  private readonly removers: Array<() => void> = []
  private released = false
  /** The timer functions the module's code calls instead of the globals. */
  readonly timers: Record<TimerName, Callback>

  constructor(
    /** Release-relative path, for warnings. */
    readonly path: string,
    private readonly file: () => HotFile | undefined,
  ) {
    this.timers = {
      setTimeout: this.starter(setTimeout, 'timeout'),
      setInterval: this.starter(setInterval, 'interval'),
      setImmediate: this.starter(setImmediate, 'immediate'),
      clearTimeout: (timer) => this.stop(clearTimeout, timer),
      clearInterval: (timer) => this.stop(clearInterval, timer),
      clearImmediate: (timer) => this.stop(clearImmediate, timer),
    }
    for (const name of ['setTimeout', 'setImmediate'] as const) {
      const custom = (globalThis[name] as unknown as Record<symbol, unknown>)[promisify.custom]
      Object.defineProperty(this.timers[name], promisify.custom, { value: custom })
    }
  }

  /** Run the module's top level: what it starts belongs to this scope. */
  runTopLevel<T>(run: () => T): T {
    const previous = owner
    owner = this
    if (depth++ === 0) wrapListenerMethods()
    try {
      return run()
    } finally {
      owner = previous
      if (--depth === 0) unwrapListenerMethods()
    }
  }

  /**
   * The module left the live release: clear what its top level started. Returns a warning for
   * each interval its code started elsewhere that is still running on this (old) code.
   */
  release(version: string, { stopLoose = false } = {}): string[] {
    if (this.released) return []
    this.released = true
    if (stopLoose) for (const timer of this.loose.keys()) clearInterval(timer)
    for (const [timer, immediate] of this.owned) {
      if (immediate) clearImmediate(timer as NodeJS.Immediate)
      else clearTimeout(timer as NodeJS.Timeout)
    }
    this.owned.clear()
    for (const remove of this.removers.splice(0)) remove()
    const warnings: string[] = []
    for (const [timer, where] of this.loose) {
      if ((timer as { _destroyed?: boolean })._destroyed) continue
      warnings.push(
        `hot module ${this.path} (${version}) was replaced, but an interval its code started at ${where} ` +
          'outside its top level and outside ctx keeps running on the old code. Start it at the top level ' +
          '(it is then cleared with its version) or in a unit with ctx.setInterval.',
      )
    }
    this.loose.clear()
    return warnings
  }

  private starter(start: (...args: any[]) => unknown, kind: 'timeout' | 'interval' | 'immediate') {
    const starter = (callback: unknown, ...rest: unknown[]): Timer => {
      const scope = owner
      if (this.released || typeof callback !== 'function')
        return (start as Callback)(callback, ...rest) as Timer
      if (!scope) {
        const timer = (start as Callback)(callback, ...rest) as Timer
        if (kind === 'interval') this.loose.set(timer as NodeJS.Timeout, this.caller(starter))
        return timer
      }
      // Owned: its callback runs as part of the top level's work, so what it starts is owned too.
      let timer: Timer
      const owned = function (this: unknown, ...args: unknown[]) {
        if (kind !== 'interval') scope.owned.delete(timer)
        const previous = owner
        owner = scope
        try {
          return (callback as Callback).apply(this, args)
        } finally {
          owner = previous
        }
      }
      timer = (start as Callback)(owned, ...rest) as Timer
      scope.owned.set(timer, kind === 'immediate')
      return timer
    }
    return starter
  }

  private stop(clear: (timer: any) => void, timer: unknown): void {
    clear(timer)
    if (timer && typeof timer === 'object') {
      this.owned.delete(timer as Timer)
      this.loose.delete(timer as NodeJS.Timeout)
    }
  }

  /** `file:line` of the hot code that called a timer function of this module (mapped to the source). */
  private caller(starter: (...args: never) => unknown): string {
    const frame = hotCaller(starter)
    const file = this.file()
    const line = frame?.getLineNumber()
    const column = frame?.getColumnNumber()
    if (!frame || !file || !line || !column) return this.path
    const original = originalPosition(file, line, column)
    return original ? `${original.file}:${original.line}` : `${this.path}:${line}`
  }

  /** Remember a listener hot code added while this top level ran. */
  adopt(remove: () => void): void {
    if (this.released) remove()
    else this.removers.push(remove)
  }
}

/** The first frame above `skip` that is not Node's own code, when it is a hot module's. */
function hotCaller(skip: (...args: never) => unknown): NodeJS.CallSite | undefined {
  const holder: { stack?: NodeJS.CallSite[] } = {}
  const { prepareStackTrace, stackTraceLimit } = Error
  Error.prepareStackTrace = (_, frames) => frames
  Error.stackTraceLimit = 8
  try {
    Error.captureStackTrace(holder, skip)
    const frames = holder.stack ?? []
    const caller = frames.find((frame) => !frame.getFileName()?.startsWith('node:'))
    return caller && isHotFilename(caller.getFileName()) ? caller : undefined
  } finally {
    Error.prepareStackTrace = prepareStackTrace
    Error.stackTraceLimit = stackTraceLimit
  }
}

// Listener methods, wrapped while a top level runs --------------------------------------------

type Adder = (this: any, type: any, listener: any, options?: any) => any
const emitterMethods = ['on', 'addListener', 'prependListener', 'once', 'prependOnceListener'] as const
const originals = new Map<string, Adder>()

function wrapListenerMethods(): void {
  const proto = EventEmitter.prototype as unknown as Record<string, Adder>
  for (const name of emitterMethods) {
    const original = proto[name]!
    originals.set(name, original)
    const wrapper = function (this: EventEmitter, type: string | symbol, listener: Callback) {
      const result = original.call(this, type, listener)
      const scope = owner
      if (scope && hotCaller(wrapper)) scope.adopt(() => this.removeListener(type, listener))
      return result
    }
    proto[name] = wrapper
  }
  if (typeof EventTarget === 'function') {
    const target = EventTarget.prototype as unknown as Record<string, Adder>
    const original = target.addEventListener!
    originals.set('addEventListener', original)
    const wrapper = function (this: EventTarget, type: string, listener: any, options?: any) {
      const result = original.call(this, type, listener, options)
      const scope = owner
      const capture = typeof options === 'boolean' ? options : Boolean(options?.capture)
      if (scope && listener && hotCaller(wrapper))
        scope.adopt(() => this.removeEventListener(type, listener, capture))
      return result
    }
    target.addEventListener = wrapper
  }
}

function unwrapListenerMethods(): void {
  const proto = EventEmitter.prototype as unknown as Record<string, Adder>
  for (const name of emitterMethods) proto[name] = originals.get(name)!
  if (originals.has('addEventListener')) {
    ;(EventTarget.prototype as unknown as Record<string, Adder>).addEventListener =
      originals.get('addEventListener')!
  }
  originals.clear()
}
