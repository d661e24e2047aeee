/**
 * Runs one CommonJS file in the main context, the way Node's own loader wraps it, but without
 * touching `require.cache` or `module.children`: the only references to the result are the ones
 * the engine's per-release cache holds, so an old release can be garbage-collected.
 */
import { setFlagsFromString } from 'node:v8'
import { compileFunction, constants } from 'node:vm'

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

const PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname']

/** Whether this process runs with V8's default lazy compilation (the engine then may switch it briefly). */
const lazyByDefault = ![...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].includes(
  '--no-lazy',
)

/** Strip a byte-order mark and a hashbang line, as Node's CommonJS loader does. */
function prepareSource(source: string): string {
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source
  return text.startsWith('#!') ? `//${text.slice(2)}` : text
}

/**
 * Compile and run one CommonJS file.
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
export function evaluateScript(module: HotModule, source: string, eager: boolean): void {
  const text = prepareSource(source)
  const options = {
    filename: module.filename,
    // `import()` inside hot code goes to Node's own loader: fine for static ESM packages of the host.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }
  let wrapper: ReturnType<typeof compileFunction>
  if (eager && lazyByDefault) {
    setFlagsFromString('--no-lazy')
    try {
      wrapper = compileFunction(text, PARAMETERS, options)
    } finally {
      setFlagsFromString('--lazy')
    }
  } else {
    wrapper = compileFunction(text, PARAMETERS, options)
  }
  wrapper.call(module.exports, module.exports, module.require, module, module.filename, module.path)
}

export function evaluateJson(module: HotModule, source: string): void {
  try {
    module.exports = JSON.parse(prepareSource(source))
  } catch (error) {
    throw new SyntaxError(`${module.filename}: ${(error as Error).message}`, { cause: error })
  }
}
