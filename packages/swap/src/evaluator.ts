/**
 * Compiles one hot module in the main context, the way Node's own loader wraps it, but without
 * touching `require.cache`, `module.children` or Node's ES module map: the only references to the
 * result are the ones the engine's per-release cache holds, so an old release can be
 * garbage-collected. CommonJS gets Node's wrapper (`exports, require, module, __filename,
 * __dirname`); an ES module, transformed by `esmTransform.ts`, gets the linker's functions.
 * Both also get the module's own timer functions (see `moduleScope.ts`).
 */
import { setFlagsFromString } from 'node:v8'
import { compileFunction, constants } from 'node:vm'
import type { ModuleFormat } from './moduleFormat.js'

/** The `module` object a hot module sees. No `parent`/`children`: those would pin old versions. */
export interface HotModule {
  id: string
  filename: string
  path: string
  exports: any
  loaded: boolean
  require: HotRequire
}

export interface HotRequire {
  (specifier: string): any
  resolve(specifier: string): string
  main: undefined
}

const COMMONJS_PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname']
/** The names `esmTransform.ts` rewrites `import`, `export` and `import.meta` to. */
export const ESM_PARAMETERS = [
  '__vite_ssr_exports__',
  '__vite_ssr_import_meta__',
  '__vite_ssr_import__',
  '__vite_ssr_dynamic_import__',
  '__vite_ssr_exportAll__',
]
/** Given to every hot module, so the timers its top level starts belong to it (`moduleScope.ts`). */
export const TIMER_PARAMETERS = [
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
] as const
export type TimerName = (typeof TIMER_PARAMETERS)[number]

/** ES modules are strict. On the first line, so only that line's columns move (the source maps know). */
export const ESM_PROLOGUE = '"use strict";'

/** Whether this process runs with V8's default lazy compilation (the engine then may switch it briefly). */
const lazyByDefault = ![...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].includes(
  '--no-lazy',
)

/** Strip a byte-order mark and turn a hashbang line into a comment, as Node's CommonJS loader does. */
export function prepareSource(source: string): string {
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source
  return text.startsWith('#!') ? `//${text.slice(2)}` : text
}

/** A compiled module wrapper: call it with the values of its parameters. */
export type ModuleWrapper = (...args: unknown[]) => unknown

export interface CompiledModule {
  wrapper: ModuleWrapper
  /** The timer functions the wrapper takes, in order (a module that declares one of them keeps its own). */
  timers: TimerName[]
}

/**
 * Compile a module's code (already prepared: no hashbang; an ES module already transformed) into
 * its wrapper, without running it.
 *
 * `vm.compileFunction`, not `vm.Script`: V8's compilation cache keeps the source of every
 * `vm.Script` alive (about 1 MB per version of a 1 MB bundle, measured on Node 20), which would
 * defeat garbage collection of old releases; compiled functions are not cached that way.
 *
 * With `eager`, V8 compiles every function of the file now instead of on its first call: the
 * unit hooks (`codeChange`, `create`) and the methods they return then run without compiling
 * inside the pause, and the first calls after the switch are fast. V8's `--lazy` flag is turned
 * off only for this synchronous compile, then restored.
 */
export function compileModule(
  code: string,
  format: ModuleFormat,
  filename: string,
  eager: boolean,
): CompiledModule {
  const moduleParameters = format === 'module' ? ESM_PARAMETERS : COMMONJS_PARAMETERS
  const timers: TimerName[] = [...TIMER_PARAMETERS]
  for (;;) {
    try {
      return { wrapper: compile(code, [...moduleParameters, ...timers], filename, eager), timers }
    } catch (error) {
      // `const setTimeout = …` at top level may not redeclare a parameter: that module keeps its own.
      const declared = redeclared(error)
      const index = declared === undefined ? -1 : timers.indexOf(declared as TimerName)
      if (index === -1) throw error
      timers.splice(index, 1)
    }
  }
}

function redeclared(error: unknown): string | undefined {
  if (!(error instanceof SyntaxError)) return undefined
  return /^Identifier '([\w$]+)' has already been declared/.exec(error.message)?.[1]
}

function compile(code: string, parameters: string[], filename: string, eager: boolean): ModuleWrapper {
  const options = {
    filename,
    // `import()` left in CommonJS hot code goes to Node's own loader: fine for ESM packages of the host.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }
  if (!(eager && lazyByDefault)) return compileFunction(code, parameters, options) as ModuleWrapper
  setFlagsFromString('--no-lazy')
  try {
    return compileFunction(code, parameters, options) as ModuleWrapper
  } finally {
    setFlagsFromString('--lazy')
  }
}

/**
 * Where V8 put a compile error: Node decorates a `SyntaxError` from `vm` with the line
 * (`file:LINE`), the code and a caret under the token. 1-based; undefined when not decorated.
 */
export function syntaxErrorPosition(error: unknown): { line: number; column: number } | undefined {
  if (!(error instanceof SyntaxError) || typeof error.stack !== 'string') return undefined
  const [where, , caret = ''] = error.stack.split('\n', 3)
  const line = /:(\d+)$/.exec(where ?? '')?.[1]
  if (line === undefined) return undefined
  // At the end of the input the caret line is only the indentation up to where the caret would be.
  const column = caret.includes('^') ? caret.indexOf('^') : /^ *$/.test(caret) ? caret.length : 0
  return { line: Number(line), column: column + 1 }
}

export function evaluateJson(module: HotModule, source: string): void {
  try {
    module.exports = JSON.parse(prepareSource(source))
  } catch (error) {
    throw new SyntaxError(`${module.filename}: ${(error as Error).message}`, { cause: error })
  }
}
