/**
 * TypeScript and ES modules become code the engine's evaluator can run, with oxc-transform
 * (measured against esbuild and swc in `bench/transform.bench.mjs`):
 *
 * 1. TypeScript: types stripped (`transformSync`), nothing else lowered.
 * 2. ES modules: oxc's module-runner transform, the one Vite's module runner evaluates: every
 *    `import` becomes a call of the linker (`__vite_ssr_import__`) whose result is read by property
 *    (`ns.name`: live bindings), every `export` a getter on the module's namespace object, defined
 *    before anything runs (so cycles see them), `import()` and `import.meta` calls and objects of
 *    the linker. The linker here is synchronous, so the `await` before each static import is
 *    blanked out (same length: the maps stay exact); any other top-level `await` is then a compile
 *    error, which the loader reports as unsupported top-level await with its original line.
 *
 * Results are cached by content hash (`transformCache.ts`) and carry their source maps.
 */
import { moduleRunnerTransformSync, type OxcError, transformSync } from 'oxc-transform'
import { HotModuleError } from './errors.js'
import type { DeclaredFormat } from './moduleFormat.js'
import { type SourceMapData, traceBack } from './sourceMaps.js'
import { TransformCache } from './transformCache.js'

/** Code ready for the evaluator, and the maps that lead from it back to the file as written. */
export interface Transformed {
  code: string
  /** Applied in order: the first maps `code` to the previous step's output, the last to the file. */
  maps: SourceMapData[]
  /** Static imports and re-exports of an ES module, in order (empty for CommonJS). */
  imports: string[]
  /** Literal specifiers of an ES module's `import()` calls (empty for CommonJS). */
  dynamicImports: string[]
  /** Characters held by this entry (code and maps), for the cache's budget. */
  size: number
}

/** Shared by every engine of the process: an unchanged module is never transformed twice. */
export const transforms = new TransformCache<Transformed>()

/** Blank the `await` of each hoisted static import: the linker returns the namespace synchronously. */
const HOISTED_IMPORT_AWAIT = /^((?:const __vite_ssr_import_\d+__ = )?)await (?=__vite_ssr_import__\()/gm

/**
 * Strip the types of a TypeScript file. `mode` tells oxc how to parse it (`detect`: by its
 * syntax); an ES module (`mode: 'module'`) is also turned into the evaluator's body, and cached
 * as one entry (the intermediate step is not kept).
 */
export function transformTypeScript(
  path: string,
  source: string,
  sha256: string,
  mode: DeclaredFormat,
): Transformed {
  return transforms.through(`${sha256}:ts:${mode}`, () => {
    const stripped = strip(path, source, mode)
    return mode === 'module' ? runnerTransform(path, stripped) : stripped
  })
}

function strip(path: string, source: string, mode: DeclaredFormat): Transformed {
  const sourceType = mode === 'detect' ? 'unambiguous' : mode
  const result = transformSync(path, source, { sourceType, sourcemap: true })
  const problem = firstError(result.errors)
  if (problem) throw syntaxProblem(path, problem, [])
  return entry(result.code, result.map ? [withoutContent(result.map)] : [], [], [])
}

/**
 * Turn an ES module (JavaScript, or TypeScript stripped in `detect` mode) into the body the
 * evaluator compiles with the linker's parameters.
 */
export function toHotModule(path: string, input: Transformed, key: string): Transformed {
  return transforms.through(`${key}:esm`, () => runnerTransform(path, input))
}

function runnerTransform(path: string, input: Transformed): Transformed {
  const result = moduleRunnerTransformSync(path, input.code, { sourcemap: true })
  const problem = firstError(result.errors)
  if (problem) throw syntaxProblem(path, problem, input.maps)
  const code = result.code.replace(HOISTED_IMPORT_AWAIT, '$1      ')
  const maps = result.map ? [withoutContent(result.map), ...input.maps] : input.maps
  return entry(code, maps, result.deps, result.dynamicDeps)
}

/** A plain JavaScript file, as the evaluator takes it: no transform, no map of its own. */
export function untransformed(code: string): Transformed {
  return { code, maps: [], imports: [], dynamicImports: [], size: 0 }
}

function entry(
  code: string,
  maps: SourceMapData[],
  imports: string[],
  dynamicImports: string[],
): Transformed {
  const size = code.length + maps.reduce((sum, map) => sum + map.mappings.length, 0)
  return { code, maps, imports, dynamicImports, size }
}

/** The engine does not need the sources inside its maps: the files are in the release. */
function withoutContent(map: {
  mappings: string
  names: string[]
  sources: string[]
  version: number
}): SourceMapData {
  return { version: 3, mappings: map.mappings, names: map.names, sources: map.sources }
}

function firstError(errors: OxcError[]): OxcError | undefined {
  return errors.find((error) => error.severity === 'Error')
}

/** oxc's error as a problem at the line of the file as written (traced back through earlier steps). */
function syntaxProblem(path: string, error: OxcError, maps: SourceMapData[]): HotModuleError {
  // oxc's code frame names the position: ",-[file:LINE:COLUMN]".
  const at = /,-\[.*:(\d+):(\d+)\]/.exec(error.codeframe ?? '')
  let line = at ? Number(at[1]) : undefined
  let column = at ? Number(at[2]) : undefined
  if (line !== undefined && column !== undefined && maps.length > 0) {
    const original = traceBack(maps, line, column)
    line = original?.line
    column = original?.column
  }
  const help = error.helpMessage ? ` (${error.helpMessage})` : ''
  return new HotModuleError({
    kind: 'syntax',
    file: path,
    line,
    column,
    message: `SyntaxError: ${error.message}${help}`,
  })
}
